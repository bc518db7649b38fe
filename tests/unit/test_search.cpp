// lib/search: exact k-NN against a naive reference, the sgemm and scan batch kernels, FAISS recall and its
// persisted, incrementally updated index.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <random>

#include "search/search.hpp"

using namespace facecat;
namespace fs = std::filesystem;

namespace {

// Identities with centres far apart and faces near their centre, like real descriptors.
search::Matrix clustered(size_t n, size_t per, uint64_t seed, const std::string& model = "m1",
                         std::vector<std::vector<float>>* centres_out = nullptr) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> c(0.0f, 0.7f / std::sqrt(128.0f)), e(0.0f, 0.25f / std::sqrt(128.0f));
  size_t np = (n + per - 1) / per;
  std::vector<std::vector<float>> centres(np, std::vector<float>(128));
  for (auto& v : centres)
    for (auto& x : v) x = c(rng);
  search::Matrix m(model);
  float row[128];
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < 128; ++j) row[j] = centres[i % np][j] + e(rng);
    m.add(static_cast<int64_t>(1000 + i), row);
  }
  if (centres_out) *centres_out = centres;
  return m;
}

std::vector<std::pair<float, int64_t>> naive(const search::Matrix& m, const float* q) {
  std::vector<std::pair<float, int64_t>> all;
  for (size_t i = 0; i < m.size(); ++i) {
    double s = 0;
    for (int j = 0; j < 128; ++j) s += double(m.row(i)[j] - q[j]) * double(m.row(i)[j] - q[j]);
    all.emplace_back(static_cast<float>(std::sqrt(s)), m.id(i));
  }
  std::sort(all.begin(), all.end());
  return all;
}

struct TempDir {
  fs::path p;
  TempDir() {
    p = fs::temp_directory_path() / ("facecat-search-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(p);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(p, ec);
  }
};

}  // namespace

TEST_CASE("descriptor blobs round-trip and bad sizes are refused", "[search]") {
  float v[128];
  for (int i = 0; i < 128; ++i) v[i] = static_cast<float>(i) * 0.01f - 0.5f;
  auto blob = search::encode_descriptor(v);
  REQUIRE(blob.size() == 512);
  CHECK(static_cast<unsigned char>(blob[0]) == 0x00);  // -0.5f = 0xBF000000, little endian
  CHECK(static_cast<unsigned char>(blob[3]) == 0xBF);
  auto d = search::decode_descriptor(blob);
  REQUIRE(d);
  for (int i = 0; i < 128; ++i) CHECK((*d)[i] == v[i]);
  auto bad = search::decode_descriptor(blob.substr(0, 100));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("100 bytes") != std::string::npos);
}

TEST_CASE("exact k-NN equals a naive double-precision scan (float and int8-prefiltered kernels)", "[search]") {
  auto m = clustered(40000, 8, 1);
  search::ExactIndex idx(m);
  search::ExactIndex idx8(m);
  idx8.set_quantized_min(1);
  std::mt19937_64 rng(9);
  for (int t = 0; t < 20; ++t) {
    const float* q = m.row(rng() % m.size());
    float qq[128];
    for (int j = 0; j < 128; ++j) qq[j] = q[j] + 0.001f * static_cast<float>(j % 3);
    auto ref = naive(m, qq);
    auto got = idx.knn(qq, 7);
    REQUIRE(got.size() == 7);
    for (size_t i = 0; i < 7; ++i) {
      CHECK(got[i].id == ref[i].second);
      CHECK(got[i].distance == Approx(ref[i].first).margin(1e-5));
      CHECK(m.id(got[i].row) == got[i].id);
    }
    auto got8 = idx8.knn(qq, 7);
    REQUIRE(got8.size() == 7);
    for (size_t i = 0; i < 7; ++i) CHECK(got8[i].id == ref[i].second);
    // the distance limit cuts the list
    float lim = (ref[2].first + ref[3].first) / 2;
    CHECK(idx.knn(qq, 7, lim).size() == 3);
    CHECK(idx8.knn(qq, 7, lim).size() == 3);
  }
  CHECK(idx.knn(m.row(0), 0).empty());
}

namespace {
// The top k of the prefiltered path must be the plain float scan's, ids and distances.
void same_as_float(const search::ExactIndex& fast, const search::ExactIndex& plain, const float* q, int k,
                   float lim = search::kNoLimit) {
  auto a = plain.knn(q, k, lim);
  auto b = fast.knn(q, k, lim);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(b[i].id == a[i].id);
    CHECK(b[i].distance == a[i].distance);
  }
}
}  // namespace

TEST_CASE("the 64-axis int8 prefilter gives the float scan's top k on random, planted and adversarial data",
          "[search]") {
  std::mt19937_64 rng(21);
  SECTION("uniform random rows, random and planted queries, with and without a distance limit") {
    std::uniform_real_distribution<float> u(-0.3f, 0.3f);
    search::Matrix m("m1");
    float row[128];
    for (size_t i = 0; i < 20000; ++i) {
      for (float& x : row) x = u(rng);
      m.add(static_cast<int64_t>(i), row);
    }
    search::ExactIndex plain(m), fast(m);
    plain.set_quantized_min(0);
    fast.set_quantized_min(1);
    std::normal_distribution<float> tiny(0.0f, 0.002f);
    for (int t = 0; t < 10; ++t) {
      float q[128];
      for (float& x : q) x = u(rng);
      same_as_float(fast, plain, q, 10);
      const float* r = m.row(rng() % m.size());
      for (int j = 0; j < 128; ++j) q[j] = r[j] + tiny(rng);
      same_as_float(fast, plain, q, 10);
      same_as_float(fast, plain, q, 1, 0.05f);
      same_as_float(fast, plain, q, 50);
    }
  }
  SECTION("rows the projection cannot tell apart take the second scan and stay exact") {
    // dims 0..63 carry the variance (the principal axes); 3000 rows share the same first 64 values and differ only
    // in the weak dims, so their lower bounds are all ~0 and the first 1024 candidates cannot prove the top k.
    std::normal_distribution<float> big(0.0f, 0.3f), weak(0.0f, 0.01f);
    search::Matrix m("m1");
    std::vector<float> shared(64);
    for (float& x : shared) x = big(rng);
    float row[128];
    for (size_t i = 0; i < 20000; ++i) {
      for (int j = 0; j < 64; ++j) row[j] = i < 3000 ? shared[j] : big(rng);
      for (int j = 64; j < 128; ++j) row[j] = weak(rng);
      m.add(static_cast<int64_t>(i), row);
    }
    search::ExactIndex plain(m), fast(m);
    plain.set_quantized_min(0);
    fast.set_quantized_min(1);
    for (int t = 0; t < 5; ++t) {
      float q[128];
      for (int j = 0; j < 64; ++j) q[j] = shared[j];
      for (int j = 64; j < 128; ++j) q[j] = weak(rng);
      same_as_float(fast, plain, q, 10);
      auto ref = naive(m, q);
      auto got = fast.knn(q, 10);
      REQUIRE(got.size() == 10);
      for (size_t i = 0; i < 10; ++i) CHECK(got[i].id == ref[i].second);
    }
    CHECK(fast.fallbacks() > 0);
  }
}

TEST_CASE("batch kernels (sgemm and scan) agree with single queries", "[search]") {
  auto m = clustered(20000, 10, 2);
  search::ExactIndex idx(m);
  auto qm = clustered(300, 10, 3);
  auto sg = idx.knn_batch(qm.data(), qm.size(), 5);
  idx.set_batch_kernel(search::ExactIndex::BatchKernel::Scan);
  auto sc = idx.knn_batch(qm.data(), qm.size(), 5);
  size_t same = 0;
  for (size_t i = 0; i < qm.size(); ++i) {
    auto one = idx.knn(qm.row(i), 5);
    REQUIRE(sc[i].size() == 5);
    REQUIRE(sg[i].size() == 5);
    for (size_t j = 0; j < 5; ++j) {
      CHECK(sc[i][j].id == one[j].id);
      CHECK(sg[i][j].distance == Approx(one[j].distance).margin(1e-4));
    }
    same += sg[i][0].id == one[0].id;
  }
  CHECK(same == qm.size());
}

TEST_CASE("a query of another model is refused with a clear error", "[search]") {
  auto m = clustered(100, 10, 4, "faceapi-resnet-aaaa");
  search::ExactIndex idx(m);
  CHECK(idx.check_model("faceapi-resnet-aaaa"));
  auto r = idx.check_model("dlib-dat-bbbb");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("never compared") != std::string::npos);
  CHECK(r.error().message.find("dlib-dat-bbbb") != std::string::npos);
}

TEST_CASE("FAISS top-1 equals exact top-1 in at least 99% of queries", "[search][faiss]") {
  std::vector<std::vector<float>> centres;
  auto m = clustered(60000, 10, 5, "m1", &centres);
  search::ExactIndex exact(m);
  search::FaissStats st;
  auto fi = search::FaissIndex::open(m, {}, &st);
  REQUIRE(fi);
  CHECK(st.retrained);
  CHECK((*fi)->size() == m.size());
  // fresh faces of known identities: the hard case (the planted near-duplicate case is easier)
  std::mt19937_64 rng(6);
  std::normal_distribution<float> e(0.0f, 0.25f / std::sqrt(128.0f));
  const size_t nq = 1000;
  std::vector<float> q(nq * 128);
  for (size_t i = 0; i < nq; ++i) {
    auto& c = centres[rng() % centres.size()];
    for (int j = 0; j < 128; ++j) q[i * 128 + j] = c[j] + e(rng);
  }
  auto ex = exact.knn_batch(q.data(), nq, 1);
  auto ap = (*fi)->knn_batch(q.data(), nq, 1);
  size_t same = 0;
  for (size_t i = 0; i < nq; ++i) same += !ap[i].empty() && ap[i][0].id == ex[i][0].id && ap[i][0].row == ex[i][0].row;
  INFO("recall@1 " << same << "/" << nq << " nlist " << st.nlist << " nprobe " << st.nprobe);
  CHECK(same >= nq * 99 / 100);
}

TEST_CASE("the FAISS index is persisted and updated incrementally", "[search][faiss]") {
  TempDir tmp;
  auto m = clustered(5000, 10, 7);
  search::FaissOptions fo;
  fo.file = tmp.p / "cat.faiss-m1.index";
  search::FaissStats st;
  {
    auto fi = search::FaissIndex::open(m, fo, &st);
    REQUIRE(fi);
    CHECK(st.retrained);
    CHECK(st.added == 5000);
  }
  REQUIRE(fs::exists(fo.file));
  // the same faces: loaded, nothing to do
  {
    auto fi = search::FaissIndex::open(m, fo, &st);
    REQUIRE(fi);
    CHECK(st.loaded);
    CHECK_FALSE(st.retrained);
    CHECK(st.added == 0);
    CHECK(st.removed == 0);
  }
  // 200 faces gone, 300 new: only those are touched, and searches find the new ones
  search::Matrix m2("m1");
  for (size_t i = 200; i < m.size(); ++i) m2.add(m.id(i), m.row(i));
  auto extra = clustered(300, 10, 8);
  for (size_t i = 0; i < extra.size(); ++i) m2.add(900000 + static_cast<int64_t>(i), extra.row(i));
  {
    auto fi = search::FaissIndex::open(m2, fo, &st);
    REQUIRE(fi);
    CHECK(st.loaded);
    CHECK(st.removed == 200);
    CHECK(st.added == 300);
    CHECK((*fi)->size() == m2.size());
    auto hit = (*fi)->knn(extra.row(17), 1);
    REQUIRE(hit.size() == 1);
    CHECK(hit[0].id == 900017);
    CHECK(hit[0].distance < 1e-3f);
    auto gone = (*fi)->knn(m.row(5), 1);
    REQUIRE(gone.size() == 1);
    CHECK(gone[0].id != m.id(5));
  }
  // another model never reuses the file
  search::Matrix other("m2");
  for (size_t i = 0; i < 500; ++i) other.add(static_cast<int64_t>(i), m.row(i));
  auto fi = search::FaissIndex::open(other, fo, &st);
  REQUIRE(fi);
  CHECK_FALSE(st.loaded);
  CHECK(st.retrained);
  CHECK((*fi)->model_id() == "m2");
}

TEST_CASE("make_index switches to FAISS past the configured size", "[search]") {
  auto m = clustered(3000, 10, 9);
  search::EngineOptions eo;
  eo.faiss_min = 5000;
  CHECK((*search::make_index(m, eo))->kind() == "exact");
  eo.faiss_min = 1000;
  CHECK((*search::make_index(m, eo))->kind() == "faiss-ivf");
  eo.faiss_min = 0;
  CHECK((*search::make_index(m, eo))->kind() == "exact");
}
