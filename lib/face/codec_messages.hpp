// Messages from libpng and libjpeg, collected per thread instead of printed.
//
// OpenCV's PNG and JPEG decoders keep the libraries' default message handlers, which print straight to stderr
// ("libpng error: Not enough image data", "Corrupt JPEG data: premature end of data segment") with no file name,
// bypassing the log. codec_messages.cpp interposes the two entry points OpenCV calls to set those handlers up
// (png_create_read_struct, jpeg_std_error) and installs handlers that collect the text in a thread-local list
// instead. decode_image clears the list before a decode and takes it after, so the text becomes part of the file's
// one error line, or a warning that names the file. Handlers that a caller sets itself are left alone.
#pragma once
#include <string>
#include <vector>

namespace facecat::face::detail {

void clear_codec_messages();
std::vector<std::string> take_codec_messages();  // at most 8 per decode, in order; clears the list

}  // namespace facecat::face::detail
