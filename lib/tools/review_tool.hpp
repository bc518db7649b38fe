#pragma once

namespace facecat::tools {
int review_main(int argc, char** argv);
}  // namespace facecat::tools
