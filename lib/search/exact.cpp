// The exact index: a brute-force scan. One query is memory-bound (1M descriptors = 512 MB of floats), so the kernel
// streams rows once, computes the squared difference with SIMD (AVX2 when the CPU has it, chosen at run time), and
// keeps a small top-k per worker. Batches of queries are compute-bound and use OpenBLAS sgemm
// (|q-x|² = |q|² + |x|² - 2 q·x) on blocks of the matrix.
#include <cblas.h>
#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "search/search.hpp"

namespace facecat::search {

Result<Descriptor> decode_descriptor(std::string_view blob) {
  if (blob.size() != kDims * sizeof(float))
    return make_error("descriptor blob has " + std::to_string(blob.size()) + " bytes, expected " +
                      std::to_string(kDims * sizeof(float)) + " (128 float32)");
  Descriptor d;
  static_assert(sizeof(float) == 4);
  for (int i = 0; i < kDims; ++i) {
    uint32_t u = 0;
    for (int b = 3; b >= 0; --b) u = (u << 8) | static_cast<unsigned char>(blob[i * 4 + b]);
    std::memcpy(&d[i], &u, 4);
  }
  for (float f : d)
    if (!std::isfinite(f)) return make_error("descriptor blob holds a value that is not finite");
  return d;
}

std::string encode_descriptor(const float* v) {
  std::string out(kDims * 4, '\0');
  for (int i = 0; i < kDims; ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<char>((u >> (8 * b)) & 0xff);
  }
  return out;
}

Result<void> Index::check_model(const std::string& query_model) const {
  if (query_model == model_id_) return {};
  return make_error(fmt::format("descriptor model mismatch: the query was described with model {} but the index "
                                "holds model {}; descriptors of different models are never compared (re-run "
                                "facecat-detect with one model)",
                                query_model, model_id_));
}

std::vector<std::vector<Neighbor>> Index::knn_batch(const float* q, size_t nq, int k, float max_distance) const {
  std::vector<std::vector<Neighbor>> out(nq);
  tbb::parallel_for(size_t(0), nq, [&](size_t i) { out[i] = knn(q + i * kDims, k, max_distance); });
  return out;
}

namespace {

// Squared L2 distances from q to rows [0, n) of x. 16 independent accumulators let the compiler vectorise without
// -ffast-math; the clone for x86-64-v3 (AVX2+FMA) is picked at load time.
__attribute__((target_clones("arch=x86-64-v3", "default"))) void l2sq_rows(const float* __restrict q,
                                                                           const float* __restrict x, size_t n,
                                                                           float* __restrict out) {
  for (size_t r = 0; r < n; ++r) {
    const float* xr = x + r * kDims;
    float acc[16] = {0};
    for (int j = 0; j < kDims; j += 16)
      for (int l = 0; l < 16; ++l) {
        float d = xr[j + l] - q[j + l];
        acc[l] += d * d;
      }
    float s = 0;
    for (int l = 0; l < 16; ++l) s += acc[l];
    out[r] = s;
  }
}

// A bounded max-heap of the k best (smallest) squared distances.
struct TopK {
  int k = 0;
  float limit = kNoLimit;  // squared max distance
  std::vector<std::pair<float, size_t>> heap;  // (d², row), max at front

  TopK() = default;
  TopK(int k, float limit) : k(k), limit(limit) { heap.reserve(static_cast<size_t>(k) + 1); }
  float worst() const { return static_cast<int>(heap.size()) < k ? limit : heap.front().first; }
  void push(float d, size_t row) {
    if (d > worst() || (d == worst() && static_cast<int>(heap.size()) >= k)) return;
    heap.emplace_back(d, row);
    std::push_heap(heap.begin(), heap.end());
    if (static_cast<int>(heap.size()) > k) {
      std::pop_heap(heap.begin(), heap.end());
      heap.pop_back();
    }
  }
  void merge(const TopK& o) {
    for (auto& [d, r] : o.heap) push(d, r);
  }
  std::vector<Neighbor> result(const Matrix& m) {
    std::sort(heap.begin(), heap.end());
    std::vector<Neighbor> out;
    out.reserve(heap.size());
    for (auto& [d, r] : heap) out.push_back({m.id(r), std::sqrt(std::max(d, 0.0f)), r});
    return out;
  }
};

float squared_limit(float max_distance) {
  return std::isinf(max_distance) ? kNoLimit : max_distance * max_distance * (1.0f + 1e-6f);
}

template <class F>
void in_arena(int threads, F&& f) {
  if (threads <= 0) {
    f();
    return;
  }
  tbb::task_arena arena(threads);
  arena.execute(f);
}

}  // namespace

ExactIndex::ExactIndex(const Matrix& m) : m_(m) { model_id_ = m.model_id(); }

namespace {
// Squared distances between int8 rows and an int8 query, in int32 (max 128·255² fits).
__attribute__((target_clones("arch=x86-64-v3", "default"))) void l2sq_rows_i8(const int8_t* __restrict q,
                                                                              const int8_t* __restrict x, size_t n,
                                                                              int32_t* __restrict out) {
  for (size_t r = 0; r < n; ++r) {
    const int8_t* xr = x + r * kDims;
    // int16 differences squared into int32 sums: GCC turns this into pmaddwd (dot-product pattern)
    int32_t acc = 0;
    for (int j = 0; j < kDims; ++j) {
      int16_t d = static_cast<int16_t>(static_cast<int16_t>(xr[j]) - static_cast<int16_t>(q[j]));
      acc += static_cast<int32_t>(d) * static_cast<int32_t>(d);
    }
    out[r] = acc;
  }
}
}  // namespace

void ExactIndex::build_quantized() const {
  std::call_once(q_once_, [&] {
    const size_t n = m_.size();
    float mx = 0;
    for (size_t i = 0; i < n * kDims; ++i) mx = std::max(mx, std::fabs(m_.data()[i]));
    qscale_ = mx > 0 ? mx / 127.0f : 1.0f;
    q8_.resize(n * kDims);
    qerr_.resize(n);
    tbb::parallel_for(size_t(0), n, [&](size_t i) {
      const float* r = m_.row(i);
      double e = 0;
      for (int j = 0; j < kDims; ++j) {
        float v = std::nearbyint(r[j] / qscale_);
        int8_t c = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
        q8_[i * kDims + j] = c;
        double d = static_cast<double>(r[j]) - static_cast<double>(qscale_) * c;
        e += d * d;
      }
      // a little slack for float rounding in the bound arithmetic
      qerr_[i] = static_cast<float>(std::sqrt(e)) * 1.0001f + 1e-6f;
    });
    qerr_max_ = n ? *std::max_element(qerr_.begin(), qerr_.end()) : 0.0f;
  });
}

std::vector<Neighbor> ExactIndex::knn(const float* q, int k, float max_distance) const {
  if (k <= 0 || m_.empty()) return {};
  if (quantized_min_ > 0 && m_.size() >= quantized_min_) return knn_quantized(q, k, max_distance);
  return knn_float(q, k, max_distance);
}

// Triangle inequality: with x̃ = s·x8 and q̃ = s·q8, | |q−x| − |q̃−x̃| | ≤ |q−q̃| + |x−x̃|. Phase 1 keeps the k
// smallest upper bounds and every row whose lower bound does not exceed the k-th upper bound (the final one is
// smaller than any seen while scanning, so nothing that could be in the top k is dropped); phase 2 computes those
// rows' float distances.
std::vector<Neighbor> ExactIndex::knn_quantized(const float* q, int k, float max_distance) const {
  build_quantized();
  const size_t n = m_.size();
  int8_t q8[kDims];
  double eq = 0;
  for (int j = 0; j < kDims; ++j) {
    float v = std::clamp(std::nearbyint(q[j] / qscale_), -127.0f, 127.0f);
    q8[j] = static_cast<int8_t>(v);
    double d = static_cast<double>(q[j]) - static_cast<double>(qscale_) * v;
    eq += d * d;
  }
  const float e_q = static_cast<float>(std::sqrt(eq)) * 1.0001f + 1e-6f;
  const float s = qscale_;
  const float maxd = std::isinf(max_distance) ? kNoLimit : max_distance * (1.0f + 1e-6f);
  struct Acc {
    std::vector<float> ub;  // max-heap of the k smallest upper bounds
    std::vector<std::pair<float, size_t>> cand;  // (lower bound, row)
  };
  constexpr size_t kChunk = 8192;
  auto scan = [&](const tbb::blocked_range<size_t>& r, Acc acc) {
    std::vector<int32_t> d(kChunk);
    for (size_t b = r.begin(); b < r.end(); b += kChunk) {
      size_t e = std::min(r.end(), b + kChunk);
      l2sq_rows_i8(q8, q8_.data() + b * kDims, e - b, d.data());
      float kth = static_cast<int>(acc.ub.size()) < k ? maxd + 2 * e_q + 1.0f : acc.ub.front();
      // a cheap first test without sqrt: rows whose integer distance rules them out even with the largest error
      auto int_limit = [&](float kth) {
        float lim = (std::min(kth, maxd) + e_q + qerr_max_) / s;
        return std::isinf(lim) ? kNoLimit : lim * lim * 1.0001f + 1.0f;
      };
      float dlim = int_limit(kth);
      for (size_t i = 0; i < e - b; ++i) {
        if (static_cast<float>(d[i]) > dlim) continue;
        float approx = s * std::sqrt(static_cast<float>(d[i]));
        float slack = e_q + qerr_[b + i];
        float lb = approx - slack;
        if (lb > kth || lb > maxd) continue;
        float ub = approx + slack;
        acc.cand.emplace_back(lb, b + i);
        if (static_cast<int>(acc.ub.size()) < k) {
          acc.ub.push_back(ub);
          std::push_heap(acc.ub.begin(), acc.ub.end());
        } else if (ub < acc.ub.front()) {
          std::pop_heap(acc.ub.begin(), acc.ub.end());
          acc.ub.back() = ub;
          std::push_heap(acc.ub.begin(), acc.ub.end());
        }
        if (static_cast<int>(acc.ub.size()) >= k) {
          kth = acc.ub.front();
          dlim = int_limit(kth);
        }
      }
    }
    return acc;
  };
  Acc all;
  in_arena(threads_, [&] {
    all = tbb::parallel_reduce(tbb::blocked_range<size_t>(0, n, kChunk), Acc{}, scan, [&](Acc a, const Acc& b) {
      for (float u : b.ub) {
        if (static_cast<int>(a.ub.size()) < k) {
          a.ub.push_back(u);
          std::push_heap(a.ub.begin(), a.ub.end());
        } else if (u < a.ub.front()) {
          std::pop_heap(a.ub.begin(), a.ub.end());
          a.ub.back() = u;
          std::push_heap(a.ub.begin(), a.ub.end());
        }
      }
      a.cand.insert(a.cand.end(), b.cand.begin(), b.cand.end());
      return a;
    });
  });
  const float kth = static_cast<int>(all.ub.size()) < k ? kNoLimit : all.ub.front();
  TopK best(k, squared_limit(max_distance));
  float tmp;
  for (auto& [lb, row] : all.cand) {
    if (lb > kth) continue;
    l2sq_rows(q, m_.row(row), 1, &tmp);
    best.push(tmp, row);
  }
  return best.result(m_);
}

std::vector<Neighbor> ExactIndex::knn_float(const float* q, int k, float max_distance) const {
  const size_t n = m_.size();
  const float lim = squared_limit(max_distance);
  constexpr size_t kChunk = 8192;
  TopK best(k, lim);
  auto scan = [&](const tbb::blocked_range<size_t>& r, TopK acc) {
    std::vector<float> d(kChunk);
    for (size_t b = r.begin(); b < r.end(); b += kChunk) {
      size_t e = std::min(r.end(), b + kChunk);
      l2sq_rows(q, m_.row(b), e - b, d.data());
      float w = acc.worst();
      for (size_t i = 0; i < e - b; ++i)
        if (d[i] <= w) {
          acc.push(d[i], b + i);
          w = acc.worst();
        }
    }
    return acc;
  };
  in_arena(threads_, [&] {
    if (n < 4 * kChunk) {
      best = scan(tbb::blocked_range<size_t>(0, n), TopK(k, lim));
    } else {
      best = tbb::parallel_reduce(
          tbb::blocked_range<size_t>(0, n, kChunk), TopK(k, lim), scan,
          [](TopK a, const TopK& b) {
            a.merge(b);
            return a;
          });
    }
  });
  return best.result(m_);
}

std::vector<std::vector<Neighbor>> ExactIndex::knn_batch(const float* q, size_t nq, int k, float max_distance) const {
  std::vector<std::vector<Neighbor>> out(nq);
  if (k <= 0 || m_.empty() || nq == 0) return out;
  if (batch_kernel_ == BatchKernel::Scan || nq < 8) {
    in_arena(threads_, [&] {
      tbb::parallel_for(size_t(0), nq, [&](size_t i) {
        // one query per task: the inner scan runs single-threaded inside this task
        const size_t n = m_.size();
        TopK acc(k, squared_limit(max_distance));
        std::vector<float> d(4096);
        for (size_t b = 0; b < n; b += 4096) {
          size_t e = std::min(n, b + 4096);
          l2sq_rows(q + i * kDims, m_.row(b), e - b, d.data());
          for (size_t j = 0; j < e - b; ++j) acc.push(d[j], b + j);
        }
        out[i] = acc.result(m_);
      });
    });
    return out;
  }
  // sgemm path
  auto* self = const_cast<ExactIndex*>(this);
  if (norms_.size() != m_.size()) {
    self->norms_.resize(m_.size());
    for (size_t i = 0; i < m_.size(); ++i) {
      const float* r = m_.row(i);
      float s = 0;
      for (int j = 0; j < kDims; ++j) s += r[j] * r[j];
      self->norms_[i] = s;
    }
  }
  const size_t n = m_.size();
  const float lim = squared_limit(max_distance);
  constexpr size_t kQB = 512, kXB = 8192;
  std::vector<float> g(kQB * kXB);
  std::vector<TopK> acc(nq, TopK(k, lim));
  std::vector<float> qn(nq);
  for (size_t i = 0; i < nq; ++i) {
    float s = 0;
    for (int j = 0; j < kDims; ++j) s += q[i * kDims + j] * q[i * kDims + j];
    qn[i] = s;
  }
  for (size_t qb = 0; qb < nq; qb += kQB) {
    const size_t nqb = std::min(kQB, nq - qb);
    for (size_t xb = 0; xb < n; xb += kXB) {
      const size_t nxb = std::min(kXB, n - xb);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nqb), static_cast<int>(nxb), kDims, 1.0f,
                  q + qb * kDims, kDims, m_.row(xb), kDims, 0.0f, g.data(), static_cast<int>(nxb));
      in_arena(threads_, [&] {
        tbb::parallel_for(size_t(0), nqb, [&](size_t i) {
          const float* gi = g.data() + i * nxb;
          TopK& a = acc[qb + i];
          float w = a.worst();
          const float qni = qn[qb + i];
          for (size_t j = 0; j < nxb; ++j) {
            float d = qni + norms_[xb + j] - 2.0f * gi[j];
            if (d <= w) {
              a.push(std::max(d, 0.0f), xb + j);
              w = a.worst();
            }
          }
        });
      });
    }
  }
  for (size_t i = 0; i < nq; ++i) out[i] = acc[i].result(m_);
  return out;
}

Result<std::unique_ptr<Index>> make_index(const Matrix& m, const EngineOptions& opts) {
  if (opts.faiss_min == 0 || m.size() < opts.faiss_min) return std::unique_ptr<Index>(new ExactIndex(m));
  FaissOptions fo;
  if (!opts.index_dir.empty())
    fo.file = opts.index_dir / (opts.index_stem + ".faiss-" + m.model_id().substr(0, 16) + ".index");
  fo.nprobe = opts.nprobe;
  auto r = FaissIndex::open(m, fo);
  if (!r) return r.error();
  return std::unique_ptr<Index>(std::move(r).value());
}

}  // namespace facecat::search
