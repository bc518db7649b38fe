// facecat-people: a thin main; the program lives in lib/tools/people_tool.cpp.
#include "core/tool.hpp"
#include "tools/people_tool.hpp"

int main(int argc, char** argv) { return facecat::run_tool("facecat-people", argc, argv, facecat::tools::people_main); }
