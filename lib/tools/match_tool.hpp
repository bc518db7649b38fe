#pragma once

namespace facecat::tools {
int match_main(int argc, char** argv);
}  // namespace facecat::tools
