// FAISS IVF-Flat for large catalogs, persisted beside the catalog.
//
// File format: one text line "facecat-faiss 1 <model id> <train size>\n" and then FAISS's own serialisation of an
// IndexIVFFlat whose ids are face ids. On open the index is brought in step with the catalog: ids that are no longer
// there are removed, new ones are added (added vectors go to their nearest list; no retraining). It is retrained from
// scratch when the catalog has grown past 8× the size it was trained on, when the model differs, or when the file is
// unreadable (which is logged, never fatal: the index is a cache).
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <omp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "search/search.hpp"
#include "util/atomic_file.hpp"

namespace facecat::search {

struct FaissIndex::Impl {
  std::unique_ptr<faiss::IndexFlatL2> quantizer;
  std::unique_ptr<faiss::IndexIVFFlat> ivf;
  size_t trained_on = 0;
  std::unordered_map<int64_t, size_t> rows;  // face id -> row of the Matrix it was opened with
};

namespace {

constexpr const char* kMagic = "facecat-faiss 1";

struct AtomicWriter : faiss::IOWriter {
  util::AtomicFile& f;
  bool failed = false;
  explicit AtomicWriter(util::AtomicFile& f) : f(f) { name = f.temp_path().string(); }
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    if (failed) return 0;
    if (!f.write(ptr, size * nitems)) {
      failed = true;
      return 0;
    }
    return nitems;
  }
};

int choose_nlist(size_t n) {
  // ~2·sqrt(n) lists (1M: 2000 lists of ~500), at least 16, at most 8192, and at least 39 training points per list
  // (FAISS's own minimum). Adding n vectors costs n·nlist distances, which dominates the build.
  int nl = static_cast<int>(std::min(2.0 * std::sqrt(static_cast<double>(n)), static_cast<double>(n) / 39.0));
  return std::clamp(nl, 16, 8192);
}

int choose_nprobe(int nlist) {
  // Measured with bench-search at 1M clustered descriptors (nlist 2000), fresh queries: recall@1 96.2% at nprobe 15,
  // 99.0% at 31, 100% at 62 — so nlist/32, at least 16.
  return std::clamp(nlist / 32, 16, nlist);
}

}  // namespace

FaissIndex::~FaissIndex() = default;

size_t FaissIndex::size() const { return static_cast<size_t>(impl_->ivf->ntotal); }
void FaissIndex::set_nprobe(int n) { impl_->ivf->nprobe = static_cast<size_t>(std::clamp(n, 1, static_cast<int>(impl_->ivf->nlist))); }
int FaissIndex::nprobe() const { return static_cast<int>(impl_->ivf->nprobe); }

Result<std::unique_ptr<FaissIndex>> FaissIndex::open(const Matrix& m, const FaissOptions& opts, FaissStats* stats) {
  FaissStats st;
  std::unique_ptr<FaissIndex> fi(new FaissIndex());
  fi->model_id_ = m.model_id();
  fi->impl_ = std::make_unique<Impl>();
  auto& impl = *fi->impl_;
  try {
    // 1. load
    if (!opts.file.empty()) {
      if (FILE* f = std::fopen(opts.file.c_str(), "rb")) {
        char line[512] = {0};
        bool ok = std::fgets(line, sizeof line, f) != nullptr;
        std::string header = ok ? std::string(line) : "";
        std::string want = std::string(kMagic) + " " + m.model_id() + " ";
        if (ok && header.rfind(want, 0) == 0) {
          try {
            faiss::FileIOReader reader(f);
            std::unique_ptr<faiss::Index> idx(faiss::read_index(&reader));
            auto* ivf = dynamic_cast<faiss::IndexIVFFlat*>(idx.get());
            if (ivf && ivf->d == kDims) {
              idx.release();
              impl.ivf.reset(ivf);
              impl.ivf->own_fields = true;
              impl.trained_on = std::stoull(header.substr(want.size()));
              st.loaded = true;
            }
          } catch (const std::exception& e) {
            spdlog::warn("{}: unreadable FAISS index ({}); rebuilding it", opts.file.string(), e.what());
          }
        } else if (ok) {
          spdlog::info("{}: built for another model or version; rebuilding it", opts.file.string());
        }
        std::fclose(f);
      }
    }
    if (impl.ivf && m.size() > 8 * std::max<size_t>(impl.trained_on, 1)) {
      spdlog::info("FAISS index trained on {} descriptors, catalog now has {}: retraining", impl.trained_on, m.size());
      impl.ivf.reset();
      st.loaded = false;
    }
    // 2. build
    if (!impl.ivf) {
      int nlist = opts.nlist > 0 ? opts.nlist : choose_nlist(m.size());
      impl.quantizer = std::make_unique<faiss::IndexFlatL2>(kDims);
      impl.ivf = std::make_unique<faiss::IndexIVFFlat>(impl.quantizer.get(), kDims, static_cast<size_t>(nlist));
      size_t sample = opts.train_sample ? opts.train_sample : static_cast<size_t>(nlist) * 48;
      sample = std::min(sample, m.size());
      std::vector<float> train(sample * kDims);
      std::vector<size_t> rows(m.size());
      for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
      if (sample < m.size()) {
        std::mt19937_64 rng(42);
        for (size_t i = 0; i < sample; ++i) std::swap(rows[i], rows[i + rng() % (rows.size() - i)]);
      }
      for (size_t i = 0; i < sample; ++i) std::copy_n(m.row(rows[i]), kDims, train.data() + i * kDims);
      impl.ivf->cp.niter = 10;
      impl.ivf->train(static_cast<faiss::Index::idx_t>(sample), train.data());
      // the IVF index owns its quantizer from now on
      impl.ivf->own_fields = true;
      (void)impl.quantizer.release();
      impl.trained_on = m.size();
      st.retrained = true;
    }
    // 3. bring in step with m
    std::unordered_set<int64_t> in_index;
    in_index.reserve(static_cast<size_t>(impl.ivf->ntotal));
    for (size_t l = 0; l < impl.ivf->nlist; ++l) {
      const faiss::Index::idx_t* ids = impl.ivf->invlists->get_ids(l);
      size_t ls = impl.ivf->invlists->list_size(l);
      in_index.insert(ids, ids + ls);
      impl.ivf->invlists->release_ids(l, ids);
    }
    impl.rows.reserve(m.size());
    for (size_t i = 0; i < m.size(); ++i) impl.rows.emplace(m.id(i), i);
    std::vector<faiss::Index::idx_t> gone;
    for (int64_t id : in_index)
      if (!impl.rows.count(id)) gone.push_back(id);
    if (!gone.empty()) {
      faiss::IDSelectorBatch sel(gone.size(), gone.data());
      st.removed = impl.ivf->remove_ids(sel);
    }
    // Added in blocks: a copy of all missing rows at once would double the peak memory (5M rows = 2.5 GB).
    constexpr size_t kAddBlock = 65536;
    std::vector<float> add;
    std::vector<faiss::Index::idx_t> add_ids;
    add.reserve(std::min(m.size(), kAddBlock) * kDims);
    auto flush = [&] {
      if (add_ids.empty()) return;
      impl.ivf->add_with_ids(static_cast<faiss::Index::idx_t>(add_ids.size()), add.data(), add_ids.data());
      st.added += add_ids.size();
      add.clear();
      add_ids.clear();
    };
    for (size_t i = 0; i < m.size(); ++i)
      if (!in_index.count(m.id(i))) {
        add.insert(add.end(), m.row(i), m.row(i) + kDims);
        add_ids.push_back(m.id(i));
        if (add_ids.size() == kAddBlock) flush();
      }
    flush();
    impl.ivf->nprobe = static_cast<size_t>(opts.nprobe > 0 ? opts.nprobe : choose_nprobe(static_cast<int>(impl.ivf->nlist)));
    st.nlist = static_cast<int>(impl.ivf->nlist);
    st.nprobe = static_cast<int>(impl.ivf->nprobe);
    // 4. save
    if (!opts.file.empty() && opts.save && (st.retrained || st.added || st.removed)) {
      auto af = util::AtomicFile::create(opts.file);
      if (!af) return af.error();
      std::string header = std::string(kMagic) + " " + m.model_id() + " " + std::to_string(impl.trained_on) + "\n";
      FACECAT_TRY(af->write(header));
      AtomicWriter w(*af);
      faiss::write_index(impl.ivf.get(), &w);
      if (w.failed) return make_error("cannot write FAISS index " + opts.file.string());
      FACECAT_TRY(af->commit());
    }
  } catch (const faiss::FaissException& e) {
    return make_error(std::string("FAISS: ") + e.what());
  }
  spdlog::debug("FAISS index: {} vectors, nlist {}, nprobe {}, loaded {}, retrained {}, +{} -{}", fi->size(), st.nlist,
                st.nprobe, st.loaded, st.retrained, st.added, st.removed);
  if (stats) *stats = st;
  return fi;
}

std::vector<std::vector<Neighbor>> FaissIndex::knn_batch(const float* q, size_t nq, int k, float max_distance) const {
  std::vector<std::vector<Neighbor>> out(nq);
  if (k <= 0 || nq == 0 || impl_->ivf->ntotal == 0) return out;
  std::vector<float> d(nq * static_cast<size_t>(k));
  std::vector<faiss::Index::idx_t> l(nq * static_cast<size_t>(k));
  // A few queries gain nothing from OpenMP's team (FAISS parallelises over queries) and lose a lot to its barriers
  // on a busy machine: run them on this thread.
  const int omp_before = omp_get_max_threads();
  if (nq < 16) omp_set_num_threads(1);
  impl_->ivf->search(static_cast<faiss::Index::idx_t>(nq), q, k, d.data(), l.data());
  if (nq < 16) omp_set_num_threads(omp_before);
  const float lim = std::isinf(max_distance) ? kNoLimit : max_distance * max_distance * (1.0f + 1e-6f);
  for (size_t i = 0; i < nq; ++i)
    for (int j = 0; j < k; ++j) {
      size_t p = i * static_cast<size_t>(k) + static_cast<size_t>(j);
      if (l[p] < 0 || d[p] > lim) continue;
      auto it = impl_->rows.find(l[p]);
      out[i].push_back({l[p], std::sqrt(std::max(d[p], 0.0f)), it == impl_->rows.end() ? size_t(-1) : it->second});
    }
  return out;
}

std::vector<Neighbor> FaissIndex::knn(const float* q, int k, float max_distance) const {
  return knn_batch(q, 1, k, max_distance)[0];
}

}  // namespace facecat::search
