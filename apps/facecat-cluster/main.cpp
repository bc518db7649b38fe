// facecat-cluster: a thin main; the program lives in lib/tools/cluster_tool.cpp.
#include "core/tool.hpp"
#include "tools/cluster_tool.hpp"

int main(int argc, char** argv) { return facecat::run_tool("facecat-cluster", argc, argv, facecat::tools::cluster_main); }
