// facecat-scenes: split videos into scenes and save representative frames (see video/scenes.hpp).
#pragma once

namespace facecat::tools {
int scenes_main(int argc, char** argv);
}  // namespace facecat::tools
