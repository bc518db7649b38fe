// facecat-vk: a thin main; the program lives in lib/tools.
#include "core/tool.hpp"
#include "tools/vk_tool.hpp"

int main(int argc, char** argv) { return facecat::run_tool("facecat-vk", argc, argv, facecat::tools::vk_main); }
