#include "cluster/cluster.hpp"

#include <dlib/clustering.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "search/faces.hpp"
#include "util/text.hpp"

namespace facecat::cluster {

std::vector<unsigned long> chinese_whispers_knn(const search::Matrix& m, const search::Index& idx, double threshold,
                                                int k, int iterations, unsigned long* n_clusters) {
  std::vector<unsigned long> labels;
  if (m.empty()) {
    if (n_clusters) *n_clusters = 0;
    return labels;
  }
  auto nn = idx.knn_batch(m.data(), m.size(), k + 1, static_cast<float>(threshold));
  std::unordered_map<int64_t, size_t> row_of;
  bool rows_known = true;
  for (auto& v : nn)
    for (auto& n : v)
      if (n.row == size_t(-1)) rows_known = false;
  if (!rows_known)
    for (size_t i = 0; i < m.size(); ++i) row_of.emplace(m.id(i), i);
  std::vector<dlib::sample_pair> edges;
  edges.reserve(m.size() * static_cast<size_t>(k + 1));
  for (size_t i = 0; i < m.size(); ++i) {
    edges.emplace_back(i, i);  // every node gets a label, even without neighbours
    for (auto& n : nn[i]) {
      size_t j = rows_known ? n.row : row_of.at(n.id);
      if (j != i) edges.emplace_back(i, j);
    }
  }
  // sample_pair orders (i, j) itself; duplicates (i→j and j→i) would double an edge's weight, so drop them.
  std::sort(edges.begin(), edges.end(), [](const dlib::sample_pair& a, const dlib::sample_pair& b) {
    return a.index1() != b.index1() ? a.index1() < b.index1() : a.index2() < b.index2();
  });
  edges.erase(std::unique(edges.begin(), edges.end(),
                          [](const dlib::sample_pair& a, const dlib::sample_pair& b) {
                            return a.index1() == b.index1() && a.index2() == b.index2();
                          }),
              edges.end());
  dlib::rand rnd;  // default seed: the same input gives the same clusters
  unsigned long nc = dlib::chinese_whispers(edges, labels, static_cast<unsigned long>(iterations), rnd);
  if (n_clusters) *n_clusters = nc;
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

  // 1. join anchors
  std::vector<size_t> rest;
  if (!anchors.empty() && !candidates.empty()) {
    search::Matrix am(model_id);
    am.reserve(anchors.size());
    for (size_t r : anchors) am.add(static_cast<int64_t>(r), fs.matrix.row(r));
    auto aidx = search::make_index(am, opts.engine);
    if (!aidx) return aidx.error();
    search::Matrix cm(model_id);
    for (size_t r : candidates) cm.add(static_cast<int64_t>(r), fs.matrix.row(r));
    auto nn = (*aidx)->knn_batch(cm.data(), cm.size(), opts.k, static_cast<float>(opts.threshold));
    // faces per label: a label of several faces needs two of them near a candidate, so that one odd face (say a
    // face confirmed into a person by hand) does not pull a whole group of strangers into that person
    std::map<std::pair<int64_t, int64_t>, size_t> label_size;
    for (size_t r : anchors) {
      const auto& a = fs.meta[r];
      int64_t p = (a.person_id && a.assignment != "rejected") ? *a.person_id : 0;
      ++label_size[{p, p ? 0 : a.cluster_id.value_or(0)}];
    }
    for (size_t ci = 0; ci < candidates.size(); ++ci) {
      const size_t r = candidates[ci];
      const auto& me = fs.meta[r];
      std::optional<int64_t> rejected_from;
      if (me.assignment == "rejected") rejected_from = me.person_id;
      // label = (person, cluster) of the anchor; the vote weight grows as the distance shrinks
      std::map<std::pair<int64_t, int64_t>, double> votes;
      std::map<std::pair<int64_t, int64_t>, size_t> count;
      for (auto& nb : nn[ci]) {
        const auto& a = fs.meta[static_cast<size_t>(nb.id)];
        int64_t p = (a.person_id && a.assignment != "rejected") ? *a.person_id : 0;
        if (rejected_from && p == *rejected_from) continue;
        int64_t c = a.cluster_id.value_or(0);
        votes[{p, p ? 0 : c}] += opts.threshold - nb.distance + 1e-6;
        ++count[{p, p ? 0 : c}];
      }
      for (auto it = votes.begin(); it != votes.end();)
        if (count[it->first] < std::min<size_t>(2, label_size[it->first])) it = votes.erase(it);
        else ++it;
      if (votes.empty()) {
        rest.push_back(r);
        continue;
      }
      auto best = std::max_element(votes.begin(), votes.end(),
                                   [](auto& a, auto& b) { return a.second < b.second; });
      auto [p, c] = best->first;
      Change ch;
      if (p) {
        ch.person = p;
        // the cluster of the person's nearest face that has one
        for (auto& nb : nn[ci]) {
          const auto& a = fs.meta[static_cast<size_t>(nb.id)];
          if (a.person_id == p && a.cluster_id) {
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
  } else {
    rest = candidates;
  }

  // 2. cluster the rest
  if (!rest.empty()) {
    search::Matrix rm(model_id);
    rm.reserve(rest.size());
    for (size_t r : rest) rm.add(fs.meta[r].id, fs.matrix.row(r));
    auto ridx = search::make_index(rm, opts.engine);
    if (!ridx) return ridx.error();
    unsigned long nc = 0;
    auto labels = chinese_whispers_knn(rm, **ridx, opts.threshold, opts.k, opts.iterations, &nc);
    std::vector<std::vector<size_t>> groups(nc);
    for (size_t i = 0; i < rest.size(); ++i) groups[labels[i]].push_back(rest[i]);
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
      if (cid && 2 * best > g.size()) {
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
