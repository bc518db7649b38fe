#include "face/codec_messages.hpp"

#include <dlfcn.h>
#include <png.h>

#include <cstdio>
#include <cstdlib>
// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

namespace facecat::face::detail {
namespace {
thread_local std::vector<std::string> t_messages;

void add(const char* msg) {
  if (t_messages.size() < 8) t_messages.emplace_back(msg && *msg ? msg : "unknown codec error");
}

// dlsym(RTLD_NEXT) finds the definition after ours in the lookup order: the library's own.
template <typename Fn>
Fn next_definition(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (!p) {
    std::fprintf(stderr, "facecat: cannot find %s in the loaded libraries\n", name);
    std::abort();
  }
  return reinterpret_cast<Fn>(p);
}

void facecat_png_error(png_structp png, png_const_charp msg) {
  add(msg);
  png_longjmp(png, 1);  // what libpng's default handler does after printing
}
void facecat_png_warning(png_structp, png_const_charp msg) { add(msg); }

void facecat_jpeg_output_message(j_common_ptr cinfo) {
  char buf[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, buf);
  add(buf);
}
}  // namespace

void clear_codec_messages() { t_messages.clear(); }

std::vector<std::string> take_codec_messages() {
  std::vector<std::string> out;
  out.swap(t_messages);
  return out;
}

}  // namespace facecat::face::detail

// The interposed entry points. libfacecat precedes libpng and libjpeg in the executable's lookup order (they are
// loaded as dependencies of OpenCV, which libfacecat needs), so OpenCV's calls land here.
extern "C" {

png_structp png_create_read_struct(png_const_charp user_png_ver, png_voidp error_ptr, png_error_ptr error_fn,
                                   png_error_ptr warn_fn) {
  using Fn = png_structp (*)(png_const_charp, png_voidp, png_error_ptr, png_error_ptr);
  static const Fn real = facecat::face::detail::next_definition<Fn>("png_create_read_struct");
  return real(user_png_ver, error_ptr, error_fn ? error_fn : facecat::face::detail::facecat_png_error,
              warn_fn ? warn_fn : facecat::face::detail::facecat_png_warning);
}

struct jpeg_error_mgr* jpeg_std_error(struct jpeg_error_mgr* err) {
  using Fn = struct jpeg_error_mgr* (*)(struct jpeg_error_mgr*);
  static const Fn real = facecat::face::detail::next_definition<Fn>("jpeg_std_error");
  struct jpeg_error_mgr* e = real(err);
  if (e) e->output_message = facecat::face::detail::facecat_jpeg_output_message;
  return e;
}

}  // extern "C"
