// facecat-catalog: a thin main; the program lives in lib/tools.
#include "core/tool.hpp"
#include "tools/tools.hpp"

int main(int argc, char** argv) { return facecat::run_tool("facecat-catalog", argc, argv, facecat::tools::catalog_main); }
