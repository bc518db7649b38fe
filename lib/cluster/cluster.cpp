#include "cluster/cluster.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>

#include "search/faces.hpp"
#include "util/text.hpp"

namespace facecat::cluster {

namespace {

struct PairHash {
  size_t operator()(const std::pair<int64_t, int64_t>& p) const {
    return std::hash<int64_t>()(p.first * 0x9E3779B97F4A7C15LL ^ (p.second + 0x632BE59BD9B4E019LL));
  }
};

}  // namespace

std::vector<int64_t> constrained_whispers(const Whispers& w) {
  const size_t n = w.n;
  std::vector<int64_t> label(n);
  int64_t base = std::max<int64_t>(0, w.first_free_label);
  for (size_t i = 0; i < n && i < w.fixed.size(); ++i) base = std::max(base, w.fixed[i] + 1);
  std::vector<char> is_fixed(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const bool f = i < w.fixed.size() && w.fixed[i] >= 0;
    is_fixed[i] = f;
    label[i] = f ? w.fixed[i] : base + static_cast<int64_t>(i);
  }
  // adjacency (CSR)
  std::vector<uint32_t> deg(n + 1, 0);
  for (auto& e : w.edges)
    if (e.a != e.b) {
      ++deg[e.a];
      ++deg[e.b];
    }
  std::vector<size_t> start(n + 1, 0);
  for (size_t i = 0; i < n; ++i) start[i + 1] = start[i] + deg[i];
  std::vector<std::pair<uint32_t, float>> adj(start[n]);
  std::vector<size_t> fill(start.begin(), start.end() - 1);
  for (auto& e : w.edges)
    if (e.a != e.b) {
      adj[fill[e.a]++] = {e.b, e.weight};
      adj[fill[e.b]++] = {e.a, e.weight};
    }
  const bool groups = !w.group.empty();
  // (label, group) -> nodes of the group holding the label
  std::unordered_map<std::pair<int64_t, int64_t>, int, PairHash> held;
  if (groups)
    for (size_t i = 0; i < n; ++i)
      if (w.group[i] >= 0) ++held[{label[i], w.group[i]}];
  std::unordered_map<uint32_t, std::vector<int64_t>> forbidden;
  for (auto& [node, lab] : w.forbidden) forbidden[node].push_back(lab);

  std::vector<uint32_t> order;
  for (size_t i = 0; i < n; ++i)
    if (!is_fixed[i] && start[i + 1] > start[i]) order.push_back(static_cast<uint32_t>(i));
  auto key = [&](int64_t l) -> int64_t {
    if (l >= base) return l - base;
    // without a key, fixed labels win ties against free ones (as dlib's smaller labels would)
    return l < static_cast<int64_t>(w.fixed_key.size()) ? w.fixed_key[static_cast<size_t>(l)] : l - base;
  };
  std::mt19937_64 rng(w.seed);
  std::vector<std::pair<int64_t, double>> tally;
  for (int it = 0; it < w.iterations && !order.empty(); ++it) {
    std::shuffle(order.begin(), order.end(), rng);
    size_t changed = 0;
    for (uint32_t i : order) {
      tally.clear();
      tally.emplace_back(label[i], w.self_weight);
      for (size_t e = start[i]; e < start[i + 1]; ++e) {
        const int64_t l = label[adj[e].first];
        auto t = std::find_if(tally.begin(), tally.end(), [&](auto& x) { return x.first == l; });
        if (t == tally.end()) tally.emplace_back(l, adj[e].second);
        else t->second += adj[e].second;
      }
      const int64_t g = groups ? w.group[i] : -1;
      auto fb = forbidden.find(i);
      int64_t best = label[i];
      double best_score = -1;
      for (auto& [l, sc] : tally) {
        if (l != label[i]) {
          if (g >= 0) {
            auto h = held.find({l, g});
            if (h != held.end() && h->second > 0) continue;  // cannot-link: the label holds a face of this photo
          }
          if (fb != forbidden.end() && std::find(fb->second.begin(), fb->second.end(), l) != fb->second.end())
            continue;
        }
        if (sc > best_score || (sc == best_score && key(l) < key(best))) {
          best_score = sc;
          best = l;
        }
      }
      if (best != label[i]) {
        if (g >= 0) {
          --held[{label[i], g}];
          ++held[{best, g}];
        }
        label[i] = best;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  return label;
}

float shared_neighbour_weight(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  size_t common = 0;
  for (uint32_t x : a) common += std::find(b.begin(), b.end(), x) != b.end();
  return 1.0f + static_cast<float>(common);
}

std::vector<uint32_t> join_lone(std::vector<int64_t>& labels, const LoneJoin& j) {
  std::vector<uint32_t> joined;
  if (!j.neighbours || !j.free) return joined;
  const auto& nb = *j.neighbours;
  const size_t n = labels.size();
  std::unordered_map<int64_t, size_t> size;  // before any node joins
  for (int64_t l : labels) ++size[l];
  const bool groups = j.group && !j.group->empty();
  std::unordered_map<std::pair<int64_t, int64_t>, int, PairHash> held;  // (label, group) -> nodes
  if (groups)
    for (size_t i = 0; i < n; ++i)
      if ((*j.group)[i] >= 0) ++held[{labels[i], (*j.group)[i]}];
  std::unordered_map<uint32_t, std::vector<int64_t>> forbidden;
  if (j.forbidden)
    for (auto& [node, lab] : *j.forbidden) forbidden[node].push_back(lab);
  auto mutual = [&](uint32_t a, uint32_t b) {
    return b < nb.size() && std::find(nb[b].begin(), nb[b].end(), a) != nb[b].end();
  };
  std::vector<std::pair<int64_t, size_t>> count;  // label -> mutual neighbours holding it
  for (size_t i = 0; i < n && i < nb.size(); ++i) {
    if (!(*j.free)[i] || size[labels[i]] != 1) continue;
    count.clear();
    for (uint32_t o : nb[i]) {
      if (o == i || !mutual(static_cast<uint32_t>(i), o)) continue;
      const int64_t l = labels[o];
      auto c = std::find_if(count.begin(), count.end(), [&](auto& x) { return x.first == l; });
      if (c == count.end()) count.emplace_back(l, 1);
      else ++c->second;
    }
    const int64_t g = groups ? (*j.group)[i] : -1;
    auto fb = forbidden.find(static_cast<uint32_t>(i));
    int64_t best = -1;
    size_t best_count = 0;
    for (auto& [l, c] : count) {
      const size_t sz = size[l];
      const size_t need = std::max<size_t>(2, (std::min<size_t>(sz, static_cast<size_t>(std::max(j.k, 1))) + 1) / 2);
      if (sz < 3 || c < need || c <= best_count) continue;
      if (g >= 0) {
        auto h = held.find({l, g});
        if (h != held.end() && h->second > 0) continue;  // cannot-link
      }
      if (fb != forbidden.end() && std::find(fb->second.begin(), fb->second.end(), l) != fb->second.end()) continue;
      best = l;
      best_count = c;
    }
    if (best_count == 0) continue;
    if (g >= 0) {
      --held[{labels[i], g}];
      ++held[{best, g}];
    }
    labels[i] = best;
    joined.push_back(static_cast<uint32_t>(i));
  }
  return joined;
}

size_t merge_dense(std::vector<int64_t>& labels, const Whispers& w, double ratio) {
  const size_t n = labels.size();
  std::unordered_map<int64_t, size_t> size, first;
  for (size_t i = 0; i < n; ++i) {
    ++size[labels[i]];
    first.emplace(labels[i], i);
  }
  std::unordered_map<int64_t, char> fixed_label;
  for (size_t i = 0; i < n && i < w.fixed.size(); ++i)
    if (w.fixed[i] >= 0) fixed_label[w.fixed[i]] = 1;
  std::unordered_map<std::pair<int64_t, int64_t>, size_t, PairHash> cross;
  for (auto& e : w.edges) {
    if (e.a >= n || e.b >= n) continue;
    int64_t a = labels[e.a], b = labels[e.b];
    if (a == b) continue;
    if (a > b) std::swap(a, b);
    ++cross[{a, b}];
  }
  struct Pair {
    double r;
    int64_t a, b;
  };
  std::vector<Pair> pairs;
  for (auto& [ab, c] : cross) {
    const size_t small = std::min(size[ab.first], size[ab.second]);
    if (small < 2 || static_cast<double>(c) < ratio * static_cast<double>(small)) continue;
    if (fixed_label.count(ab.first) && fixed_label.count(ab.second)) continue;
    pairs.push_back({static_cast<double>(c) / static_cast<double>(small), ab.first, ab.second});
  }
  if (pairs.empty()) return 0;
  std::sort(pairs.begin(), pairs.end(), [](const Pair& x, const Pair& y) {
    return x.r != y.r ? x.r > y.r : (x.a != y.a ? x.a < y.a : x.b < y.b);
  });
  // members, groups and forbidden labels per label, merged as the pass goes
  std::unordered_map<int64_t, std::vector<uint32_t>> members;
  for (size_t i = 0; i < n; ++i) members[labels[i]].push_back(static_cast<uint32_t>(i));
  std::unordered_map<uint32_t, std::vector<int64_t>> forbidden;
  for (auto& [node, lab] : w.forbidden) forbidden[node].push_back(lab);
  std::unordered_map<int64_t, int64_t> parent;
  auto find = [&](int64_t l) {
    while (parent.count(l) && parent[l] != l) l = parent[l];
    return l;
  };
  size_t merges = 0;
  for (auto& p : pairs) {
    int64_t a = find(p.a), b = find(p.b);
    if (a == b || (fixed_label.count(a) && fixed_label.count(b))) continue;
    // the label that stays: a fixed one, else the one of the earliest node
    if (fixed_label.count(b) || (!fixed_label.count(a) && first[b] < first[a])) std::swap(a, b);
    bool ok = true;
    if (!w.group.empty()) {
      std::set<int64_t> ga;
      for (uint32_t i : members[a])
        if (w.group[i] >= 0) ga.insert(w.group[i]);
      for (uint32_t i : members[b])
        if (w.group[i] >= 0 && ga.count(w.group[i])) ok = false;
    }
    for (uint32_t i : members[b]) {
      auto f = forbidden.find(i);
      if (f != forbidden.end() && std::find(f->second.begin(), f->second.end(), a) != f->second.end()) ok = false;
    }
    if (!ok) continue;
    for (uint32_t i : members[b]) labels[i] = a;
    auto& ma = members[a];
    ma.insert(ma.end(), members[b].begin(), members[b].end());
    members[b].clear();
    first[a] = std::min(first[a], first[b]);
    parent[b] = a;
    parent[a] = a;
    ++merges;
  }
  return merges;
}

namespace {

// Each query row's k nearest other rows of the index within max_distance (rows, nearest first).
std::vector<std::vector<uint32_t>> neighbour_rows(const search::Index& idx, const search::Matrix& all,
                                                  const std::vector<size_t>& rows, int k, float max_distance,
                                                  std::vector<std::vector<float>>* distances = nullptr) {
  std::vector<float> q;
  q.reserve(rows.size() * search::kDims);
  for (size_t r : rows) q.insert(q.end(), all.row(r), all.row(r) + search::kDims);
  auto nn = idx.knn_batch(q.data(), rows.size(), k + 1, max_distance);
  std::unordered_map<int64_t, size_t> row_of;
  auto row_for = [&](const search::Neighbor& nb) {
    if (nb.row != size_t(-1)) return nb.row;
    if (row_of.empty())
      for (size_t i = 0; i < all.size(); ++i) row_of.emplace(all.id(i), i);
    return row_of.at(nb.id);
  };
  std::vector<std::vector<uint32_t>> out(rows.size());
  if (distances) distances->assign(rows.size(), {});
  for (size_t i = 0; i < rows.size(); ++i)
    for (auto& nb : nn[i]) {
      const size_t j = row_for(nb);
      if (j == rows[i] || out[i].size() >= static_cast<size_t>(k)) continue;
      out[i].push_back(static_cast<uint32_t>(j));
      if (distances) (*distances)[i].push_back(nb.distance);
    }
  return out;
}

}  // namespace

std::vector<unsigned long> chinese_whispers_knn(const search::Matrix& m, const search::Index& idx, double threshold,
                                                int k, int iterations, unsigned long* n_clusters,
                                                const std::vector<int64_t>* groups, double lone_margin) {
  std::vector<unsigned long> labels;
  if (m.empty()) {
    if (n_clusters) *n_clusters = 0;
    return labels;
  }
  std::vector<size_t> all(m.size());
  for (size_t i = 0; i < m.size(); ++i) all[i] = i;
  std::vector<std::vector<float>> dist;
  const float bound = static_cast<float>(threshold + std::max(0.0, lone_margin));
  auto nb = neighbour_rows(idx, m, all, k, bound, &dist);
  Whispers w;
  w.n = m.size();
  w.iterations = iterations;
  w.self_weight = 0;
  if (groups) w.group = *groups;
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  for (size_t i = 0; i < m.size(); ++i)
    for (size_t e = 0; e < nb[i].size(); ++e)
      if (dist[i][e] < static_cast<float>(threshold))
        pairs.emplace_back(static_cast<uint32_t>(std::min<size_t>(i, nb[i][e])),
                           static_cast<uint32_t>(std::max<size_t>(i, nb[i][e])));
  // i→j and j→i are one edge
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  for (auto& [a, b] : pairs) w.edges.push_back({a, b, shared_neighbour_weight(nb[a], nb[b])});
  auto raw = constrained_whispers(w);
  merge_dense(raw, w, kMergeRatio);
  if (lone_margin > 0) {
    std::vector<char> free(m.size(), 1);
    LoneJoin lj;
    lj.neighbours = &nb;
    lj.free = &free;
    lj.group = groups;
    lj.k = k;
    join_lone(raw, lj);
  }
  std::map<int64_t, unsigned long> remap;
  labels.resize(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) labels[i] = remap.emplace(raw[i], remap.size()).first->second;
  if (n_clusters) *n_clusters = remap.size();
  return labels;
}

PairScore pairwise_f1(const std::vector<unsigned long>& predicted, const std::vector<int>& truth) {
  // Count pairs through contingency tables: same-same = Σ C(n_ij, 2).
  std::map<std::pair<unsigned long, int>, long> nij;
  std::map<unsigned long, long> np;
  std::map<int, long> nt;
  for (size_t i = 0; i < predicted.size(); ++i) {
    ++nij[{predicted[i], truth[i]}];
    ++np[predicted[i]];
    ++nt[truth[i]];
  }
  auto c2 = [](long n) { return static_cast<double>(n) * static_cast<double>(n - 1) / 2.0; };
  double tp = 0, pp = 0, tt = 0;
  for (auto& [k, n] : nij) tp += c2(n);
  for (auto& [k, n] : np) pp += c2(n);
  for (auto& [k, n] : nt) tt += c2(n);
  PairScore s;
  s.precision = pp > 0 ? tp / pp : 1.0;
  s.recall = tt > 0 ? tp / tt : 1.0;
  s.f1 = (s.precision + s.recall) > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

namespace {

struct PersonInfo {
  std::string status;
  bool named = false;
};

int64_t next_cluster_id(catalog::Db& db) {
  int64_t from_meta = 0;
  auto s = db.prepare("SELECT value FROM meta WHERE key = 'cluster.next_id'");
  if (s.step()) from_meta = util::parse_int(s.text(0)).value_or(0);
  int64_t from_faces = db.scalar_int("SELECT coalesce(max(cluster_id), 0) + 1 FROM faces").value_or(1);
  return std::max<int64_t>({from_meta, from_faces, 1});
}

}  // namespace

Result<Stats> run(catalog::Db& db, const std::string& model_id, const Options& opts) {
  auto t0 = std::chrono::steady_clock::now();
  Stats st;
  auto loaded = search::load_faces(db, model_id);
  if (!loaded) return loaded.error();
  search::FaceSet& fs = *loaded;
  const size_t n = fs.matrix.size();
  st.faces = n;

  std::unordered_map<int64_t, PersonInfo> people;
  {
    auto s = db.prepare("SELECT id, status, name IS NOT NULL FROM people");
    while (s.step()) people[s.i64(0)] = PersonInfo{s.text(1), s.i64(2) != 0};
  }
  auto person_is_suggested = [&](int64_t pid) {
    auto it = people.find(pid);
    return it != people.end() && it->second.status == "suggested" && !it->second.named;
  };

  // Classify rows.
  std::vector<size_t> anchors, candidates;
  for (size_t i = 0; i < n; ++i) {
    const auto& f = fs.meta[i];
    const bool rejected = f.assignment == "rejected";
    const bool has_person = f.person_id && !rejected;
    bool anchor;
    if (f.assignment == "confirmed") anchor = true;
    else if (opts.full) anchor = has_person && !person_is_suggested(*f.person_id);
    else anchor = has_person || (f.cluster_id && !rejected);
    (anchor ? anchors : candidates).push_back(i);
  }
  st.anchors = anchors.size();
  st.candidates = candidates.size();

  struct Change {
    std::optional<int64_t> person, cluster;
    std::string assignment;  // '' = NULL
  };
  std::unordered_map<size_t, Change> changes;  // row -> new state

  // One k-NN graph over the candidates and their nearest faces (anchors included), one run of constrained chinese
  // whispers with the anchors fixed: joining existing people and forming new clusters are the same propagation, so
  // faces arriving in batches end where one run over everything puts them.
  std::vector<std::vector<size_t>> groups_of_new;
  if (!candidates.empty()) {
    // anchor labels: (person, cluster) of the anchor -> a dense label
    std::map<std::pair<int64_t, int64_t>, int64_t> label_id;
    std::vector<std::pair<int64_t, int64_t>> label_key;
    std::vector<size_t> label_size;
    std::vector<int64_t> fixed(n, -1);
    for (size_t r : anchors) {
      const auto& a = fs.meta[r];
      int64_t p = (a.person_id && a.assignment != "rejected") ? *a.person_id : 0;
      std::pair<int64_t, int64_t> key{p, p ? 0 : a.cluster_id.value_or(0)};
      auto [it, fresh] = label_id.emplace(key, static_cast<int64_t>(label_key.size()));
      if (fresh) {
        label_key.push_back(key);
        label_size.push_back(0);
      }
      fixed[r] = it->second;
      ++label_size[static_cast<size_t>(it->second)];
    }
    const int64_t n_anchor_labels = static_cast<int64_t>(label_key.size());
    std::vector<char> strict(label_key.size(), 0);
    for (size_t l = 0; l < label_key.size(); ++l) strict[l] = label_key[l].first && !person_is_suggested(label_key[l].first);
    // photos: cannot-link groups
    std::unordered_map<std::string, int64_t> photo;
    std::vector<int64_t> group(n, -1);
    for (size_t i = 0; i < n; ++i)
      if (!fs.meta[i].file_hash.empty())
        group[i] = photo.emplace(fs.meta[i].file_hash, static_cast<int64_t>(photo.size())).first->second;

    // candidates' neighbours among all faces
    search::Matrix cm(model_id);
    cm.reserve(candidates.size());
    for (size_t r : candidates) cm.add(static_cast<int64_t>(r), fs.matrix.row(r));
    auto aidx = search::make_index(fs.matrix, opts.engine);
    if (!aidx) return aidx.error();
    std::unordered_map<int64_t, size_t> row_of;
    for (size_t i = 0; i < n; ++i) row_of.emplace(fs.matrix.id(i), i);
    // neighbour lists reach threshold + lone_margin (for join_lone); edges and reached clusters stay within threshold
    const float threshold = static_cast<float>(opts.threshold);
    const float bound = static_cast<float>(opts.threshold + std::max(0.0, opts.lone_margin));
    auto nn = (*aidx)->knn_batch(cm.data(), cm.size(), opts.k + 1, bound);
    auto row_for = [&](const search::Neighbor& nb) { return nb.row != size_t(-1) ? nb.row : row_of.at(nb.id); };

    // A suggested cluster that a new face reaches is clustered again together with the new faces (its faces become
    // candidates and keep their cluster id and person by overlap, as in --full), so that a face bridging two such
    // clusters merges them as one run over everything would. Clusters no new face reaches stay as they are.
    {
      std::set<int64_t> reached;
      for (auto& v : nn)
        for (auto& nb : v) {
          const size_t j = row_for(nb);
          if (nb.distance < threshold && fixed[j] >= 0 && !strict[static_cast<size_t>(fixed[j])])
            reached.insert(fixed[j]);
        }
      if (!reached.empty()) {
        std::vector<size_t> moved, still;
        for (size_t r : anchors)
          (fixed[r] >= 0 && reached.count(fixed[r]) && fs.meta[r].assignment != "confirmed" ? moved : still).push_back(r);
        if (!moved.empty()) {
          search::Matrix mm(model_id);
          mm.reserve(moved.size());
          for (size_t r : moved) {
            mm.add(static_cast<int64_t>(r), fs.matrix.row(r));
            fixed[r] = -1;
          }
          auto more = (*aidx)->knn_batch(mm.data(), mm.size(), opts.k + 1, bound);
          candidates.insert(candidates.end(), moved.begin(), moved.end());
          for (auto& v : more) nn.push_back(std::move(v));
          anchors = std::move(still);
          st.anchors = anchors.size();
          st.candidates = candidates.size();
        }
      }
    }

    // Every face of the graph needs its own list of k nearest for the edge weights and for join_lone: the candidates'
    // come from nn; those of the other faces in their lists (anchors that stay fixed) are asked for here.
    std::vector<std::vector<uint32_t>> near(n);
    for (size_t ci = 0; ci < candidates.size(); ++ci)
      for (auto& nb : nn[ci]) {
        const size_t j = row_for(nb);
        if (j != candidates[ci] && near[candidates[ci]].size() < static_cast<size_t>(opts.k))
          near[candidates[ci]].push_back(static_cast<uint32_t>(j));
      }
    {
      std::vector<char> asked(n, 0);
      for (size_t r : candidates) asked[r] = 1;
      std::vector<size_t> rest;
      for (size_t r : candidates)
        for (uint32_t j : near[r])
          if (!asked[j]) {
            asked[j] = 1;
            rest.push_back(j);
          }
      if (!rest.empty()) {
        auto lists = neighbour_rows(**aidx, fs.matrix, rest, opts.k, bound);
        for (size_t i = 0; i < rest.size(); ++i) near[rest[i]] = std::move(lists[i]);
      }
    }

    Whispers w;
    w.n = n;
    w.iterations = opts.iterations;
    w.fixed = fixed;
    w.group = group;
    // Edges are weighted by shared neighbours (shared_neighbour_weight), with no self-edge: on lfw-dev the unweighted
    // whispers' F1 depended on the random order (0.955 to 0.984 over seeds), the weighted ones do not (0.984 for
    // every seed). Weights from distance ((t-d)/t, 1-d²/t², a Gaussian) were measured and never gained.
    w.self_weight = opts.shared_weights ? 0.0 : 1.0;
    std::vector<std::pair<std::pair<uint32_t, uint32_t>, float>> pairs;
    for (size_t ci = 0; ci < candidates.size(); ++ci) {
      const size_t r = candidates[ci];
      // the label of a named or confirmed person of several faces needs two of its faces among the neighbours (one
      // odd confirmed face must not pull strangers in); suggested clusters link like any face, as in one run
      std::map<int64_t, size_t> anchor_count;
      for (auto& nb : nn[ci]) {
        size_t j = row_for(nb);
        if (nb.distance < threshold && fixed[j] >= 0) ++anchor_count[fixed[j]];
      }
      for (auto& nb : nn[ci]) {
        size_t j = row_for(nb);
        if (j == r || nb.distance >= threshold) continue;
        if (fixed[j] >= 0 && strict[static_cast<size_t>(fixed[j])] &&
            anchor_count[fixed[j]] < std::min<size_t>(2, label_size[static_cast<size_t>(fixed[j])]))
          continue;
        pairs.push_back({{static_cast<uint32_t>(std::min(r, j)), static_cast<uint32_t>(std::max(r, j))},
                         opts.shared_weights ? shared_neighbour_weight(near[r], near[j]) : 1.0f});
      }
      // a face rejected from a person never joins it again
      if (fs.meta[r].assignment == "rejected" && fs.meta[r].person_id) {
        auto it = label_id.find({*fs.meta[r].person_id, 0});
        if (it != label_id.end()) w.forbidden.emplace_back(static_cast<uint32_t>(r), it->second);
      }
    }
    std::sort(pairs.begin(), pairs.end());
    pairs.erase(std::unique(pairs.begin(), pairs.end(), [](auto& x, auto& y) { return x.first == y.first; }),
                pairs.end());
    for (auto& [ab, wt] : pairs) w.edges.push_back({ab.first, ab.second, wt});
    // ties between labels are decided as in one run over everything: by the first face (row) of each label
    w.fixed_key.assign(label_key.size(), std::numeric_limits<int64_t>::max());
    for (size_t r : anchors)
      if (fixed[r] >= 0)
        w.fixed_key[static_cast<size_t>(fixed[r])] = std::min<int64_t>(w.fixed_key[static_cast<size_t>(fixed[r])], static_cast<int64_t>(r));
    w.fixed = fixed;
    w.first_free_label = n_anchor_labels;  // labels of clusters clustered again must not come back as new labels
    auto labels = constrained_whispers(w);
    if (opts.shared_weights) merge_dense(labels, w, kMergeRatio);
    if (opts.lone_margin > 0) {
      std::vector<char> free(n, 0);
      for (size_t r : candidates) free[r] = 1;
      LoneJoin lj;
      lj.neighbours = &near;
      lj.free = &free;
      lj.group = &group;
      lj.forbidden = &w.forbidden;
      lj.k = opts.k;
      st.lone_joined = join_lone(labels, lj).size();
    }

    std::map<int64_t, std::vector<size_t>> new_groups;
    for (size_t ci = 0; ci < candidates.size(); ++ci) {
      const size_t r = candidates[ci];
      const int64_t l = labels[r];
      if (l >= n_anchor_labels) {
        new_groups[l].push_back(r);
        continue;
      }
      auto [p, c] = label_key[static_cast<size_t>(l)];
      Change ch;
      if (p) {
        ch.person = p;
        // the cluster of the person's nearest face that has one
        for (auto& nb : nn[ci]) {
          const auto& a = fs.meta[row_for(nb)];
          if (a.person_id == p && a.cluster_id && a.assignment != "rejected") {
            ch.cluster = a.cluster_id;
            break;
          }
        }
      } else {
        ch.cluster = c;
      }
      ch.assignment = "suggested";
      changes[r] = ch;
      ++st.joined;
    }
    for (auto& [l, g] : new_groups) groups_of_new.push_back(std::move(g));
  }

  if (!groups_of_new.empty()) {
    std::vector<size_t> rest;
    for (auto& g : groups_of_new) rest.insert(rest.end(), g.begin(), g.end());
    auto& groups = groups_of_new;
    // biggest first, so that in full mode the big clusters claim their old ids first
    std::sort(groups.begin(), groups.end(), [](auto& a, auto& b) { return a.size() > b.size(); });
    int64_t next_id = next_cluster_id(db);
    std::set<int64_t> taken;
    // old cluster id -> its suggested person (full mode)
    std::unordered_map<int64_t, int64_t> old_person;
    for (size_t r : rest)
      if (fs.meta[r].cluster_id && fs.meta[r].person_id && fs.meta[r].assignment != "rejected" &&
          person_is_suggested(*fs.meta[r].person_id))
        old_person.emplace(*fs.meta[r].cluster_id, *fs.meta[r].person_id);
    std::set<int64_t> persons_taken;
    std::map<int64_t, size_t> old_size;  // faces of each old cluster among those clustered again
    for (size_t r : rest)
      if (fs.meta[r].cluster_id) ++old_size[*fs.meta[r].cluster_id];
    const int64_t now = util::now_unix();
    auto new_person = db.prepare("INSERT INTO people(name, status, created_at, updated_at) VALUES (NULL, 'suggested', ?, ?)");
    for (auto& g : groups) {
      if (static_cast<int>(g.size()) < opts.min_size) {
        for (size_t r : g) {
          Change ch;
          if (fs.meta[r].assignment == "rejected") {
            ch.person = fs.meta[r].person_id;
            ch.assignment = "rejected";
          }
          changes[r] = ch;
          ++st.unclustered;
        }
        continue;
      }
      // the old cluster this group overlaps most
      std::map<int64_t, size_t> overlap;
      for (size_t r : g)
        if (fs.meta[r].cluster_id) ++overlap[*fs.meta[r].cluster_id];
      std::optional<int64_t> cid;
      size_t best = 0;
      for (auto& [oc, cnt] : overlap)
        if (!taken.count(oc) && cnt > best) {
          best = cnt;
          cid = oc;
        }
      // kept when the old cluster makes up most of the group, or most of the old cluster is in it (new faces joined)
      if (cid && (2 * best > g.size() || 2 * best > old_size[*cid])) {
        ++st.kept_clusters;
      } else {
        cid = next_id++;
        ++st.new_clusters;
      }
      taken.insert(*cid);
      int64_t pid;
      auto op = old_person.find(*cid);
      if (op != old_person.end() && !persons_taken.count(op->second)) {
        pid = op->second;
      } else {
        new_person.reset();
        new_person.bind_all(now, now).run();
        pid = db.last_insert_id();
        people[pid] = PersonInfo{"suggested", false};
        ++st.people_created;
      }
      persons_taken.insert(pid);
      for (size_t r : g) {
        Change ch;
        if (fs.meta[r].assignment == "rejected" && fs.meta[r].person_id == pid) {
          // never put a face back into the person it was rejected from
          ch.person = pid;
          ch.assignment = "rejected";
        } else {
          ch.person = pid;
          ch.cluster = cid;
          ch.assignment = "suggested";
          ++st.clustered;
        }
        changes[r] = ch;
      }
    }
    auto meta = db.prepare("INSERT INTO meta(key, value) VALUES ('cluster.next_id', ?) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    meta.bind(1, std::to_string(next_id)).run();
  }

  // 3. write the changes (only rows whose state differs)
  auto upd = db.prepare("UPDATE faces SET person_id = ?, cluster_id = ?, assignment = ? WHERE id = ? "
                        "AND coalesce(assignment, '') <> 'confirmed'");
  for (auto& [r, ch] : changes) {
    const auto& f = fs.meta[r];
    if (f.person_id == ch.person && f.cluster_id == ch.cluster && f.assignment == ch.assignment) continue;
    upd.reset();
    upd.bind(1, ch.person).bind(2, ch.cluster);
    if (ch.assignment.empty()) upd.bind(3, nullptr);
    else upd.bind(3, ch.assignment);
    upd.bind(4, f.id).run();
  }
  // suggested, unnamed people without any face left (and without sources) go away
  auto del = db.prepare(
      "DELETE FROM people WHERE status = 'suggested' AND name IS NULL "
      "AND NOT EXISTS (SELECT 1 FROM faces WHERE faces.person_id = people.id) "
      "AND NOT EXISTS (SELECT 1 FROM person_sources s WHERE s.person_id = people.id)");
  del.run();
  st.people_removed = static_cast<size_t>(db.changes());
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace facecat::cluster
