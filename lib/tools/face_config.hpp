// The face engine's settings from the config, in one place, so that every tool that analyses photos
// (facecat-detect's defaults, facecat-match's targets, facecat-report's match sheet) analyses them alike.
#pragma once
#include "core/config.hpp"
#include "face/analyzer.hpp"

namespace facecat::tools {

// faces.models_dir, faces.recognition_model, faces.descriptor_backend, faces.shape_predictor.
face::AnalyzerConfig analyzer_config(const Config& cfg);
// faces.min_face, faces.min_face_fraction, faces.upsample, faces.max_pixels, faces.decode, faces.crop_margin.
face::DetectParams detect_params(const Config& cfg);

}  // namespace facecat::tools
