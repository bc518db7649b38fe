#pragma once

namespace facecat::tools {
int detect_main(int argc, char** argv);
}
