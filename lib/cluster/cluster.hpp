// Face clustering: chinese whispers (dlib) over a k-nearest-neighbour graph from the search engine, never over all
// O(n²) pairs. Clusters become suggested people; confirmed faces are never moved.
//
// Incremental by default. A face is an "anchor" when it already has a person (not rejected) or a cluster; the
// others are "candidates". Each run builds one k-NN graph over the candidates and their nearest faces (anchors
// included) and runs constrained chinese whispers on it, anchors fixed to their person/cluster:
//   1. a candidate whose label ends as an anchor's joins that person/cluster (an anchor label of several faces only
//      counts for a candidate with two of its faces among its neighbours, so that one odd confirmed face cannot pull
//      strangers in; a face rejected from a person never joins that person again);
//   2. the other labels are new clusters: those of at least min_size faces get a new cluster id (ids are never
//      reused) and a new suggested person; smaller ones stay unclustered for next time.
// Edges join faces closer than the threshold and weigh 1 + the neighbours the two faces share (so the result does
// not hang on the random order); after the whispers, clusters joined by many edges merge (merge_dense), and a
// candidate left alone may still join a person/cluster of which about half are its mutual nearest neighbours within
// threshold + lone_margin (join_lone).
// Cannot-link: two faces of one photo are never put into one person or cluster (confirmed ones excepted).
// With full = true the faces of suggested people are clustered again from scratch (confirmed faces and the faces of
// named/confirmed people stay anchors); a new cluster keeps the id and the person of the old cluster it overlaps
// most (more than half of it), so ids stay stable when membership barely changes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "search/search.hpp"
#include "util/result.hpp"

namespace facecat::cluster {

// A face left alone by the whispers may join through mutual neighbours closer than threshold + this (join_lone).
inline constexpr double kLoneMargin = 0.05;

struct Options {
  double threshold = 0.5;   // edge / join distance (see README: chosen by measurement)
  double lone_margin = kLoneMargin;  // 0: faces left alone stay alone
  bool shared_weights = true;        // edges weighted by shared neighbours; false: 1 each (dlib's unweighted whispers)
  int k = 10;               // neighbours per face in the graph
  int min_size = 2;         // smaller clusters stay unclustered
  int iterations = 100;     // chinese whispers iterations
  bool full = false;        // re-cluster the faces of suggested people from scratch
  search::EngineOptions engine;
};

struct Stats {
  size_t faces = 0;          // faces of the model
  size_t anchors = 0;        // faces that kept their person/cluster
  size_t candidates = 0;     // faces that were (re)considered
  size_t joined = 0;         // candidates that joined an existing person/cluster
  size_t lone_joined = 0;    // of the candidates in people/clusters: those that were alone and joined by join_lone
  size_t clustered = 0;      // candidates in new clusters
  size_t new_clusters = 0;   // clusters given a new id
  size_t kept_clusters = 0;  // clusters that kept an old id (full mode)
  size_t unclustered = 0;    // candidates left alone (clusters below min_size)
  size_t people_created = 0, people_removed = 0;
  double seconds = 0;
};

// Chinese whispers with constraints (dlib's algorithm: every node takes the label with the largest sum of edge
// weights among its neighbours and itself, ties to the smallest label; nodes in random order, fixed seed), plus:
//  - fixed nodes (fixed[i] >= 0) keep their label and only pass it on (anchors: confirmed faces, known people);
//  - cannot-link: a node never takes a label that already holds another node of its group (group[i] >= 0; faces of
//    one photo), so no label ever holds two nodes of one group that were not put there fixed;
//  - forbidden (node, label) pairs (a face rejected from a person).
// Free nodes start with their own label max(fixed)+1+i. Passes stop early when one changes nothing.
struct WeightedEdge {
  uint32_t a = 0, b = 0;
  float weight = 1;
};
struct Whispers {
  size_t n = 0;
  std::vector<WeightedEdge> edges;               // undirected, each pair once; self-edges are implied
  std::vector<int64_t> group;                    // empty or n entries; -1: none
  std::vector<int64_t> fixed;                    // empty or n entries; -1: free
  std::vector<std::pair<uint32_t, int64_t>> forbidden;
  // Ties go to the label with the smallest key: a free node's own label has key i (its index, as in dlib); a fixed
  // label l has fixed_key[l] when given (e.g. its first member's index, so that anchors do not win every tie); without
  // one, fixed labels win ties against free ones.
  std::vector<int64_t> fixed_key;
  int64_t first_free_label = 0;  // free nodes' own labels start at max(this, max(fixed) + 1)
  double self_weight = 1.0;
  int iterations = 100;
  uint64_t seed = 0x5eed;
};
// Labels: a fixed node's own label, an anchor label a free node adopted, or max(fixed)+1+j for a new group.
std::vector<int64_t> constrained_whispers(const Whispers& w);

// The weight of an edge between two faces: 1 + the faces they share among their k nearest neighbours (both lists
// within the same bound). Faces of one person share most of their neighbours, a stranger who is merely close to a
// few of them shares few, and the whispers then no longer depend on the random order (measured on lfw-dev: see
// docs/match.md). Lists hold rows, in any order.
float shared_neighbour_weight(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b);

// After the whispers: two labels joined by at least `ratio` edges (of w) per node of the smaller one, both of at
// least 2 nodes, become one, unless that would put two nodes of one group together, give a node a label forbidden
// to it, or join two labels of fixed nodes (the free label takes the fixed one; of two free labels, the one of the
// earliest node stays). Weighted whispers can leave a large cluster (more nodes than k + 1) split in two halves
// joined by many edges; different people are joined by few. One pass over the pairs, densest first; returns the
// merges.
size_t merge_dense(std::vector<int64_t>& labels, const Whispers& w, double ratio);
inline constexpr double kMergeRatio = 2.0;

// After the whispers, a free node that ended alone (no other node holds its label) joins the label of which at
// least max(2, ceil(min(size, k) / 2)) nodes are its mutual nearest neighbours: each in the other's list of k
// nearest within the wider bound the lists were made with (threshold + lone_margin). The label must hold at least
// 3 nodes, hold no node of the node's group and not be forbidden to it; sizes are those before any node joined.
// neighbours[i]: node i's k nearest (rows, nearest first); empty for nodes that were not asked (never mutual).
// Nodes are taken in index order; returns the nodes that joined.
struct LoneJoin {
  const std::vector<std::vector<uint32_t>>* neighbours = nullptr;
  const std::vector<char>* free = nullptr;       // nodes that may join (n entries)
  const std::vector<int64_t>* group = nullptr;   // empty or n entries; -1: none
  const std::vector<std::pair<uint32_t, int64_t>>* forbidden = nullptr;
  int k = 10;
};
std::vector<uint32_t> join_lone(std::vector<int64_t>& labels, const LoneJoin& j);

// Pure clustering of the rows of m, as the catalog run clusters them: labels[i] in 0..n_clusters-1. Edges join each
// row with its k nearest rows within threshold (found with idx, which must be built over m), weighted by shared
// neighbours; then lone rows join through mutual neighbours within threshold + lone_margin (0: not). With groups
// (one per row, -1 = none), two rows of one group never share a label (cannot-link).
std::vector<unsigned long> chinese_whispers_knn(const search::Matrix& m, const search::Index& idx, double threshold,
                                                int k, int iterations, unsigned long* n_clusters = nullptr,
                                                const std::vector<int64_t>* groups = nullptr,
                                                double lone_margin = kLoneMargin);

// Pairwise precision/recall/F1 of a clustering against true labels (for tests and measurements).
struct PairScore {
  double precision = 0, recall = 0, f1 = 0;
};
PairScore pairwise_f1(const std::vector<unsigned long>& predicted, const std::vector<int>& truth);

// The incremental catalog run described above, in one transaction.
Result<Stats> run(catalog::Db& db, const std::string& model_id, const Options& opts);

}  // namespace facecat::cluster
