// The clustering baseline of scripts/eval-faces: plain dlib::chinese_whispers over every pair of descriptors closer
// than the threshold (dlib's dnn_face_recognition_ex.cpp), O(n²) edges, no k-NN graph, no constraints.
//   cw-baseline THRESHOLD < descriptors.txt     (one face per line: 128 numbers)   -> one label per line
#include <dlib/clustering.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: cw-baseline THRESHOLD < descriptors.txt\n");
    return 2;
  }
  const double threshold = std::strtod(argv[1], nullptr);
  std::vector<std::vector<float>> d;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    std::istringstream in(line);
    std::vector<float> v;
    float x;
    while (in >> x) v.push_back(x);
    if (v.size() != 128) {
      std::fprintf(stderr, "cw-baseline: line %zu has %zu numbers, not 128\n", d.size() + 1, v.size());
      return 1;
    }
    d.push_back(std::move(v));
  }
  std::vector<dlib::sample_pair> edges;
  for (size_t i = 0; i < d.size(); ++i)
    for (size_t j = i; j < d.size(); ++j) {
      double s = 0;
      for (size_t k = 0; k < 128; ++k) s += double(d[i][k] - d[j][k]) * double(d[i][k] - d[j][k]);
      if (std::sqrt(s) < threshold) edges.emplace_back(i, j);
    }
  std::vector<unsigned long> labels;
  if (!d.empty()) dlib::chinese_whispers(edges, labels);
  for (auto l : labels) std::printf("%lu\n", l);
  return 0;
}
