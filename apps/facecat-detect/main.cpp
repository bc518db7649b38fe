// facecat-detect: a thin main; the program lives in lib/tools.
#include "core/tool.hpp"
#include "tools/detect_tool.hpp"

int main(int argc, char** argv) {
  return facecat::run_tool("facecat-detect", argc, argv, facecat::tools::detect_main);
}
