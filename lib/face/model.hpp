// The face descriptor network (dlib's face recognition ResNet, "anet_type") behind a pimpl, so that tools do not
// compile dlib's DNN templates. model.cpp is the only translation unit that instantiates the network.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace facecat::face {

inline constexpr int kDescriptorDims = 128;
using Descriptor = std::array<float, kDescriptorDims>;

// An aligned face chip: size×size RGB, 8 bits per channel, rows top to bottom, interleaved R,G,B.
struct Chip {
  int size = 0;
  std::vector<uint8_t> rgb;  // size*size*3 bytes
};

struct ModelSpec {
  std::filesystem::path models_dir;  // holds face-api/model/face_recognition_model{.bin,-weights_manifest.json}
  std::filesystem::path user_dat;    // optional: a dlib .dat (e.g. dlib_face_recognition_resnet_model_v1.dat)
  // Which implementation runs the network (the weights, and so the model id, are the same):
  //   "auto"   OpenCV DNN if its descriptor of a test chip agrees with dlib's within 1e-4 at load, else dlib
  //   "dlib"   dlib's anet_type
  //   "opencv" OpenCV DNN (an Error at load if it cannot be built or does not agree with dlib)
  std::string backend = "auto";
};

struct ModelInfo {
  // Stable identity recorded with every descriptor: descriptors of different ids must never be compared.
  //   "faceapi-resnet-<16 hex>": the face-api weights (sha256 of face_recognition_model.bin)
  //   "dlib-dat-<16 hex>":       a user .dat (sha256 of the .dat file)
  std::string id;
  std::string sha256;               // full sha256 of the source file
  std::filesystem::path source;     // the .bin or the user's .dat
  std::filesystem::path cache_dat;  // the converted .dat (face-api only; empty when the cache could not be written)
};

// One network instance. Not thread-safe: give each thread its own copy (copying is cheap: ~22 MB of floats).
class Encoder {
 public:
  Encoder(const Encoder& o);
  Encoder& operator=(const Encoder& o);
  Encoder(Encoder&&) noexcept;
  Encoder& operator=(Encoder&&) noexcept;
  ~Encoder();

  const ModelInfo& info() const;
  const std::string& model_id() const { return info().id; }
  static constexpr int chip_size() { return 150; }
  // "dlib" or "opencv": the implementation that describe() runs (see ModelSpec::backend).
  const std::string& backend() const;

  // One 128-d descriptor per chip (chips must be chip_size() square; others are resized). Runs the net in
  // batches of `batch` chips. Returns an Error for malformed chips.
  Result<std::vector<Descriptor>> describe(const std::vector<Chip>& chips, size_t batch = 8);

 private:
  struct Impl;
  explicit Encoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend Result<Encoder> load_encoder(const ModelSpec& spec);
};

// Loads the network: a user .dat if spec.user_dat is set, otherwise the face-api weights, converted once into
// <models_dir>/cache/faceapi-resnet-<16 hex>.dat (written atomically; a read-only models_dir only costs a
// conversion (~0.3 s) per load and logs a warning).
Result<Encoder> load_encoder(const ModelSpec& spec);

// Converts face-api's tfjs weights into a dlib .dat at out_dat (atomic write). Exposed for tests and tools.
Result<void> convert_faceapi_weights(const std::filesystem::path& manifest, const std::filesystem::path& bin,
                                     const std::filesystem::path& out_dat);

// Paths of the face-api files inside a models folder.
std::filesystem::path faceapi_bin_path(const std::filesystem::path& models_dir);
std::filesystem::path faceapi_manifest_path(const std::filesystem::path& models_dir);

// sha256 of a file, streamed. Lowercase hex.
Result<std::string> sha256_file(const std::filesystem::path& p);

// Limits OpenBLAS to one thread per caller (as fast for this net, half the CPU); no-op with other BLAS.
// Returns the name of the BLAS that dlib resolved to ("openblas" or "other").
std::string configure_blas_single_thread();

}  // namespace facecat::face
