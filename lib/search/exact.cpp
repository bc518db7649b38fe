// The exact index: a brute-force scan. One query is memory-bound (1M descriptors = 512 MB of floats, ~70 ms at the
// 7.5 GB/s this VM gets), so from 50,000 rows on a single query first scans a 64-byte-per-row int8 copy of the rows
// projected on their 64 principal axes (lower bounds), then re-ranks in float the rows those bounds cannot rule out
// (exact, see knn_quantized). Kernels use SIMD (AVX2 when the CPU has it, chosen at run time by target_clones) and
// keep a small top-k per worker. Batches of queries are compute-bound and use OpenBLAS sgemm
// (|q-x|² = |q|² + |x|² - 2 q·x) on blocks of the matrix.
#include <cblas.h>
#include <opencv2/core.hpp>
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
// Squared distances between int8 rows of kReduced values and an int8 query, in int32 (max 64·254² fits).
__attribute__((target_clones("arch=x86-64-v3", "default"))) void l2sq_rows_i8(const int8_t* __restrict q,
                                                                              const int8_t* __restrict x, size_t n,
                                                                              int32_t* __restrict out) {
  constexpr int D = ExactIndex::kReduced;
  for (size_t r = 0; r < n; ++r) {
    const int8_t* xr = x + r * D;
    // int16 differences squared into int32 sums: GCC turns this into pmaddwd (dot-product pattern)
    int32_t acc = 0;
    for (int j = 0; j < D; ++j) {
      int16_t d = static_cast<int16_t>(static_cast<int16_t>(xr[j]) - static_cast<int16_t>(q[j]));
      acc += static_cast<int32_t>(d) * static_cast<int32_t>(d);
    }
    out[r] = acc;
  }
}

// Lower bounds are shrunk by this much (relative, then absolute) so that float rounding in the projection (sgemm)
// and in the bound arithmetic can never make a bound exceed the true distance.
constexpr float kLbRel = 1e-4f, kLbAbs = 1e-5f;
}  // namespace

// The prefilter copy: rows projected on the kReduced principal axes of (a sample of) the matrix, then quantised to
// int8 with one scale. An orthonormal projection never lengthens a vector, so |P(q−x)| ≤ |q−x|; quantisation moves
// each projected row by at most its stored error.
void ExactIndex::build_quantized() const {
  std::call_once(q_once_, [&] {
    const size_t n = m_.size();
    constexpr int D = kReduced;
    // 1. mean and covariance (double) of up to 65536 evenly spaced rows
    const size_t step = std::max<size_t>(1, n / 65536);
    std::vector<double> mean(kDims, 0.0);
    size_t ns = 0;
    for (size_t i = 0; i < n; i += step, ++ns)
      for (int j = 0; j < kDims; ++j) mean[j] += m_.row(i)[j];
    for (auto& v : mean) v /= static_cast<double>(std::max<size_t>(ns, 1));
    std::vector<double> centred(ns * kDims);
    for (size_t i = 0, s = 0; i < n; i += step, ++s)
      for (int j = 0; j < kDims; ++j) centred[s * kDims + j] = m_.row(i)[j] - mean[j];
    cv::Mat cov(kDims, kDims, CV_64F, cv::Scalar(0));
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, kDims, static_cast<int>(ns), 1.0, centred.data(), kDims, 0.0,
                cov.ptr<double>(), kDims);
    for (int i = 0; i < kDims; ++i)
      for (int j = 0; j < i; ++j) cov.at<double>(i, j) = cov.at<double>(j, i);
    cv::Mat evals, evecs;  // eigenvalues descending, eigenvectors as rows (orthonormal)
    cv::eigen(cov, evals, evecs);
    pmean_.assign(mean.begin(), mean.end());
    pbasis_.resize(static_cast<size_t>(D) * kDims);
    for (int r = 0; r < D; ++r)
      for (int j = 0; j < kDims; ++j) pbasis_[static_cast<size_t>(r) * kDims + j] = static_cast<float>(evecs.at<double>(r, j));
    double total = 0, kept = 0;
    for (int r = 0; r < kDims; ++r) total += std::max(0.0, evals.at<double>(r));
    for (int r = 0; r < D; ++r) kept += std::max(0.0, evals.at<double>(r));
    pvar_kept_ = total > 0 ? static_cast<float>(kept / total) : 1.0f;
    // 2. project in blocks (sgemm), quantise with one scale taken from the sample (values beyond it are clamped
    // and their larger error is stored like any other)
    float mx = 0;
    {
      std::vector<float> ys(ns * D), cs(centred.begin(), centred.end());
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(ns), D, kDims, 1.0f, cs.data(), kDims,
                  pbasis_.data(), kDims, 0.0f, ys.data(), D);
      for (float v : ys) mx = std::max(mx, std::fabs(v));
    }
    qscale_ = mx > 0 ? mx / 127.0f : 1.0f;
    // μ·Pᵀ, subtracted from every projected row
    std::vector<float> pm(D, 0.0f);
    for (int r = 0; r < D; ++r) {
      double acc = 0;
      for (int j = 0; j < kDims; ++j) acc += static_cast<double>(pbasis_[static_cast<size_t>(r) * kDims + j]) * mean[j];
      pm[r] = static_cast<float>(acc);
    }
    q8_.resize(n * D);
    qerr_.resize(n);
    constexpr size_t kBlock = 16384;
    tbb::parallel_for(size_t(0), (n + kBlock - 1) / kBlock, [&](size_t blk) {
      const size_t b = blk * kBlock, e = std::min(n, b + kBlock);
      std::vector<float> y((e - b) * D);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(e - b), D, kDims, 1.0f, m_.row(b), kDims,
                  pbasis_.data(), kDims, 0.0f, y.data(), D);
      for (size_t i = b; i < e; ++i) {
        double err = 0;
        for (int j = 0; j < D; ++j) {
          const float v = y[(i - b) * D + j] - pm[j];
          const float c = std::clamp(std::nearbyint(v / qscale_), -127.0f, 127.0f);
          q8_[i * D + j] = static_cast<int8_t>(c);
          const double d = static_cast<double>(v) - static_cast<double>(qscale_) * c;
          err += d * d;
        }
        qerr_[i] = static_cast<float>(std::sqrt(err)) * 1.0001f + 1e-6f;
      }
    });
    qerr_max_ = n ? *std::max_element(qerr_.begin(), qerr_.end()) : 0.0f;
  });
}

std::vector<Neighbor> ExactIndex::knn(const float* q, int k, float max_distance) const {
  if (k <= 0 || m_.empty()) return {};
  const size_t cand = static_cast<size_t>(std::max(kMinCandidates, 16 * k));
  if (quantized_min_ > 0 && m_.size() >= quantized_min_ && m_.size() > 4 * cand)
    return knn_quantized(q, k, max_distance);
  return knn_float(q, k, max_distance);
}

// Filter and refine, exact:
//   phase 1 scans the int8 copy and keeps the C rows with the smallest lower bounds lb(x) ≤ |q−x|
//           (lb = s·|q8−x8| − err(q) − err(x), shrunk a little for rounding; C = max(1024, 16k));
//   phase 2 computes the float distances of those C rows; let t = the k-th of them (or max_distance if smaller).
//   If the largest lower bound kept is > t, every row left out is farther than t: the top k is exact. Otherwise
//   (many rows the projection cannot tell apart) a second scan re-ranks every row whose lower bound is ≤ t.
std::vector<Neighbor> ExactIndex::knn_quantized(const float* q, int k, float max_distance) const {
  build_quantized();
  constexpr int D = kReduced;
  const size_t n = m_.size();
  const size_t C = static_cast<size_t>(std::max(kMinCandidates, 16 * k));
  // the query, projected and quantised
  int8_t q8[D];
  double eq = 0;
  for (int r = 0; r < D; ++r) {
    double acc = 0;
    for (int j = 0; j < kDims; ++j)
      acc += static_cast<double>(pbasis_[static_cast<size_t>(r) * kDims + j]) * (static_cast<double>(q[j]) - pmean_[j]);
    const double c = std::clamp(std::nearbyint(acc / qscale_), -127.0, 127.0);
    q8[r] = static_cast<int8_t>(c);
    const double d = acc - static_cast<double>(qscale_) * c;
    eq += d * d;
  }
  const float e_q = static_cast<float>(std::sqrt(eq)) * 1.0001f + 1e-6f;
  const float s = qscale_;
  const float maxd = std::isinf(max_distance) ? kNoLimit : max_distance * (1.0f + 1e-6f);
  auto lower_bound = [&](int32_t d2, size_t row) {
    return (s * std::sqrt(static_cast<float>(d2)) - e_q - qerr_[row]) * (1.0f - kLbRel) - kLbAbs;
  };
  // the integer distance above which no row can have lb ≤ bound (using the largest row error)
  auto int_limit = [&](float bound) {
    if (std::isinf(bound)) return kNoLimit;
    float lim = ((bound + kLbAbs) / (1.0f - kLbRel) + e_q + qerr_max_) / s;
    return lim * lim * 1.0001f + 1.0f;
  };
  using Cand = std::vector<std::pair<float, size_t>>;  // max-heap of (lb, row)
  constexpr size_t kChunk = 8192;
  auto scan = [&](const tbb::blocked_range<size_t>& r, Cand acc) {
    acc.reserve(C + 1);
    std::vector<int32_t> d(kChunk);
    float bound = acc.size() < C ? maxd : std::min(maxd, acc.front().first);
    float dlim = int_limit(bound);
    for (size_t b = r.begin(); b < r.end(); b += kChunk) {
      const size_t e = std::min(r.end(), b + kChunk);
      l2sq_rows_i8(q8, q8_.data() + b * D, e - b, d.data());
      for (size_t i = 0; i < e - b; ++i) {
        if (static_cast<float>(d[i]) > dlim) continue;
        const float lb = lower_bound(d[i], b + i);
        if (lb > bound) continue;
        acc.emplace_back(lb, b + i);
        std::push_heap(acc.begin(), acc.end());
        if (acc.size() > C) {
          std::pop_heap(acc.begin(), acc.end());
          acc.pop_back();
        }
        if (acc.size() >= C) {
          bound = std::min(maxd, acc.front().first);
          dlim = int_limit(bound);
        }
      }
    }
    return acc;
  };
  auto merge = [&](Cand a, const Cand& b) {
    for (auto& x : b) {
      if (a.size() >= C && x.first >= a.front().first) continue;
      a.push_back(x);
      std::push_heap(a.begin(), a.end());
      if (a.size() > C) {
        std::pop_heap(a.begin(), a.end());
        a.pop_back();
      }
    }
    return a;
  };
  Cand cand;
  in_arena(threads_, [&] {
    cand = tbb::parallel_reduce(tbb::blocked_range<size_t>(0, n, kChunk), Cand{}, scan, merge);
  });
  TopK best(k, squared_limit(max_distance));
  float tmp;
  for (auto& [lb, row] : cand) {
    l2sq_rows(q, m_.row(row), 1, &tmp);
    best.push(tmp, row);
  }
  // t: the k-th exact distance found (an upper bound on the true k-th), or the distance limit
  const float t = static_cast<int>(best.heap.size()) < k ? maxd
                                                          : std::min(maxd, std::sqrt(std::max(best.worst(), 0.0f)) *
                                                                               (1.0f + 1e-6f));
  if (cand.size() < C || cand.front().first > t) return best.result(m_);
  // Fallback: every row with lb ≤ t, re-ranked from scratch.
  fallbacks_.fetch_add(1, std::memory_order_relaxed);
  const float dl = int_limit(t);
  std::vector<size_t> rows;
  std::vector<int32_t> d(kChunk);
  for (size_t b = 0; b < n; b += kChunk) {
    const size_t e = std::min(n, b + kChunk);
    l2sq_rows_i8(q8, q8_.data() + b * D, e - b, d.data());
    for (size_t i = 0; i < e - b; ++i)
      if (static_cast<float>(d[i]) <= dl && lower_bound(d[i], b + i) <= t) rows.push_back(b + i);
  }
  TopK all(k, squared_limit(max_distance));
  for (size_t row : rows) {
    l2sq_rows(q, m_.row(row), 1, &tmp);
    all.push(tmp, row);
  }
  return all.result(m_);
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
