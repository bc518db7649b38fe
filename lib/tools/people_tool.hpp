#pragma once

namespace facecat::tools {
int people_main(int argc, char** argv);
}  // namespace facecat::tools
