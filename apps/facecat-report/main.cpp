// facecat-report: a thin main; the program lives in lib/tools/report_tool.cpp.
#include "core/tool.hpp"
#include "tools/report_tool.hpp"

int main(int argc, char** argv) { return facecat::run_tool("facecat-report", argc, argv, facecat::tools::report_main); }
