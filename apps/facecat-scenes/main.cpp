// facecat-scenes: a thin main; the program lives in lib/tools.
#include "core/tool.hpp"
#include "tools/scenes_tool.hpp"

int main(int argc, char** argv) {
  return facecat::run_tool("facecat-scenes", argc, argv, facecat::tools::scenes_main);
}
