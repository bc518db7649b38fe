// Each tool's whole program, callable from its thin main (and from tests).
#pragma once

namespace facecat::tools {
int scan_main(int argc, char** argv);
int catalog_main(int argc, char** argv);
}  // namespace facecat::tools
