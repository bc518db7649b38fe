// The photo's own metadata as one XMP packet, the way a sidecar that digiKam writes itself holds it: the photo's
// embedded XMP, plus its EXIF and IPTC converted to XMP by Exiv2 (copyExifToXmp, copyIptcToXmp), the conversion
// digiKam's MetaEngine uses; where they disagree, EXIF wins over XMP and XMP over IPTC (the MWG's order, which
// exiftool's MWG tags read too). A new facecat sidecar starts from this packet, so that digiKam with "read from
// sidecar files" on still shows the photo's captions, copyright, creator, location and labels (it reads the
// sidecar INSTEAD of the embedded XMP, and drops EXIF/IPTC fields that the sidecar lacks).
//
// tiff:Orientation is left out (in a sidecar it would override the photo's EXIF in digiKam; see digikam.md).
// Exiv2 parses untrusted files: every exception it throws becomes an Error, and files larger than max_bytes are
// not opened (Exiv2 reads only the metadata segments, never the pixels).
#pragma once
#include <cstdint>
#include <string>

#include "util/result.hpp"

namespace facecat::digikam {

struct PhotoXmp {
  std::string packet;       // a complete x:xmpmeta packet (with xpacket wrapper); empty when the photo has nothing
  int fields = 0;           // XMP properties in it (after the conversion)
};

// Errors: unreadable file, a format Exiv2 does not know, a file over max_bytes, malformed metadata.
Result<PhotoXmp> photo_metadata_xmp(const std::string& image_path, int64_t max_bytes = int64_t(1) << 30);

// The photo's embedded XMP packet as it is in the file (empty when it has none), for reading regions.
Result<std::string> embedded_xmp(const std::string& image_path, int64_t max_bytes = int64_t(1) << 30);

}  // namespace facecat::digikam
