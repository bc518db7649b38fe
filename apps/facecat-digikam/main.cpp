// facecat-digikam: a thin main; the program lives in lib/tools.
#include "core/tool.hpp"
#include "tools/digikam_tool.hpp"

int main(int argc, char** argv) {
  return facecat::run_tool("facecat-digikam", argc, argv, facecat::tools::digikam_main);
}
