#pragma once

namespace facecat::tools {
int cluster_main(int argc, char** argv);
}  // namespace facecat::tools
