#include "digikam/photo_xmp.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <mutex>

// Exiv2 0.27's headers use std::auto_ptr, deprecated in C++17.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <exiv2/exiv2.hpp>
#pragma GCC diagnostic pop

#include "util/text.hpp"

namespace facecat::digikam {
namespace {

// Exiv2 prints its warnings to stderr itself; route them to the log instead (debug: they concern metadata a
// photo carries, not facecat's work), and make the XMP toolkit safe to use once initialised.
void init_exiv2() {
  static std::once_flag once;
  std::call_once(once, [] {
    Exiv2::XmpParser::initialize();
    Exiv2::LogMsg::setHandler([](int level, const char* msg) {
      std::string m = util::trim(msg ? std::string(msg) : std::string());
      if (level >= Exiv2::LogMsg::error) spdlog::debug("exiv2: {}", m);
      else spdlog::trace("exiv2: {}", m);
    });
  });
}

Result<void> check_file(const std::string& image_path, int64_t max_bytes) {
  struct stat st {};
  if (::stat(image_path.c_str(), &st) != 0) return make_error("cannot read the photo's metadata: the file is gone");
  if (!S_ISREG(st.st_mode)) return make_error("cannot read the photo's metadata: not a regular file");
  if (st.st_size > max_bytes)
    return make_error("the photo is larger than " + std::to_string(max_bytes >> 20) +
                      " MiB; its metadata was not read");
  return {};
}

// The photo opened by Exiv2 with its metadata read (null when Exiv2 cannot open it); Exiv2 errors are thrown for
// the caller's one catch.
Exiv2::Image::AutoPtr open_and_read(const std::string& image_path) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  auto image = Exiv2::ImageFactory::open(image_path);
#pragma GCC diagnostic pop
  if (image.get()) image->readMetadata();
  return image;
}

}  // namespace

Result<std::string> embedded_xmp(const std::string& image_path, int64_t max_bytes) {
  FACECAT_TRY(check_file(image_path, max_bytes));
  init_exiv2();
  try {
    auto image = open_and_read(image_path);
    if (!image.get()) return make_error("Exiv2 cannot open the photo");
    return image->xmpPacket();
  } catch (const Exiv2::AnyError& e) {
    return make_error(std::string("Exiv2 cannot read the photo's metadata: ") + util::trim(e.what()));
  } catch (const std::exception& e) {
    return make_error(std::string("cannot read the photo's metadata: ") + e.what());
  }
}

Result<PhotoXmp> photo_metadata_xmp(const std::string& image_path, int64_t max_bytes) {
  FACECAT_TRY(check_file(image_path, max_bytes));
  init_exiv2();
  try {
    auto image = open_and_read(image_path);
    if (!image.get()) return make_error("Exiv2 cannot open the photo");
    // The metadata working group's order when sources disagree: EXIF first, then XMP, then IPTC (exiftool's
    // MWG composite tags read it the same way). So EXIF's conversion replaces a property the embedded XMP has,
    // and IPTC's only adds what neither has.
    Exiv2::XmpData xmp = image->xmpData();
    if (!image->iptcData().empty()) {
      Exiv2::XmpData from_iptc;
      Exiv2::copyIptcToXmp(image->iptcData(), from_iptc);
      for (const auto& d : from_iptc)
        if (xmp.findKey(Exiv2::XmpKey(d.key())) == xmp.end()) xmp.add(d);
    }
    if (!image->exifData().empty()) {
      Exiv2::XmpData from_exif;
      Exiv2::copyExifToXmp(image->exifData(), from_exif);
      for (const auto& d : from_exif) {
        auto it = xmp.findKey(Exiv2::XmpKey(d.key()));
        if (it != xmp.end()) xmp.erase(it);
        xmp.add(d);
      }
    }
    // Never in a sidecar: digiKam would take it over the photo's EXIF orientation.
    for (const char* key : {"Xmp.tiff.Orientation"}) {
      auto it = xmp.findKey(Exiv2::XmpKey(key));
      if (it != xmp.end()) xmp.erase(it);
    }
    PhotoXmp out;
    out.fields = static_cast<int>(xmp.count());
    if (xmp.empty()) return out;
    std::string packet;
    if (Exiv2::XmpParser::encode(packet, xmp, Exiv2::XmpParser::useCompactFormat, 0) != 0)
      return make_error("Exiv2 could not serialise the photo's metadata as XMP");
    out.packet = std::move(packet);
    return out;
  } catch (const Exiv2::AnyError& e) {
    return make_error(std::string("Exiv2 cannot read the photo's metadata: ") + util::trim(e.what()));
  } catch (const std::exception& e) {
    return make_error(std::string("cannot read the photo's metadata: ") + e.what());
  }
}

}  // namespace facecat::digikam
