// facecat-digikam: export people and face regions to digiKam (XMP sidecars or digikam4.db) and to CSV.
#pragma once

namespace facecat::tools {
int digikam_main(int argc, char** argv);
}  // namespace facecat::tools
