// Internal to lib/face: the face recognition ResNet (dlib's anet_type) rebuilt layer by layer in OpenCV DNN from
// the weights of a loaded dlib network. Each conv+affine pair becomes one Convolution with the affine folded in;
// residual sums are Eltwise sums, with the shape mismatch of the down-sampling blocks zero-padded bottom/right
// (and in the extra channels), as dlib's add_prev does. model.cpp extracts the weights; this file knows nothing of
// dlib's templates, so it compiles quickly.
#pragma once
#include <memory>
#include <vector>

#include "face/model.hpp"
#include "util/result.hpp"

namespace facecat::face::detail {

struct ConvUnit {
  int out = 0, in = 0, k = 0, stride = 1, pad = 0;
  std::vector<float> w;  // [out][in][k][k]
  std::vector<float> b;  // [out] (empty: no bias)
  std::vector<float> gamma, beta;  // the affine layer that follows (per output channel)
};

struct ResNetWeights {
  std::vector<ConvUnit> convs;  // 29, in forward order
  std::vector<float> fc;        // [256][128] (dlib's fc_ layout: [in][out])
};

// One OpenCV DNN network instance (not thread-safe; a copy rebuilds its own network from the shared weights).
class DnnResNet {
 public:
  static Result<DnnResNet> build(std::shared_ptr<const ResNetWeights> w);
  DnnResNet(const DnnResNet& o);
  DnnResNet& operator=(const DnnResNet& o);
  DnnResNet(DnnResNet&&) noexcept;
  DnnResNet& operator=(DnnResNet&&) noexcept;
  ~DnnResNet();

  // chips must be 150×150 RGB (Encoder::describe resizes others first).
  Result<std::vector<Descriptor>> describe(const std::vector<const Chip*>& chips);

 private:
  struct Impl;
  explicit DnnResNet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facecat::face::detail
