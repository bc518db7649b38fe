// facecat-match: a thin main; the program lives in lib/tools/match_tool.cpp.
#include "core/tool.hpp"
#include "tools/match_tool.hpp"

int main(int argc, char** argv) { return facecat::run_tool("facecat-match", argc, argv, facecat::tools::match_main); }
