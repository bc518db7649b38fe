#pragma once

namespace facecat::tools {
int report_main(int argc, char** argv);
}  // namespace facecat::tools
