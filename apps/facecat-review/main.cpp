// facecat-review: a thin main; the program lives in lib/tools/review_tool.cpp.
#include "core/tool.hpp"
#include "tools/review_tool.hpp"

int main(int argc, char** argv) { return facecat::run_tool("facecat-review", argc, argv, facecat::tools::review_main); }
