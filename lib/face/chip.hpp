// The aligned chip of one face and its sharpness, shared by the analyzer and by imported regions (face/region).
#pragma once
#include <dlib/image_processing.h>
#include <dlib/opencv/cv_image.h>

#include "face/model.hpp"

namespace facecat::face {

// dlib's chip (get_face_chip_details from the 68 landmarks in `sh`, size × size, padding) of `img`, as RGB bytes;
// *blur gets the variance of the chip's Laplacian (higher = sharper).
Chip extract_chip(const dlib::cv_image<dlib::bgr_pixel>& img, const dlib::full_object_detection& sh, int size,
                  double padding, float* blur);

}  // namespace facecat::face
