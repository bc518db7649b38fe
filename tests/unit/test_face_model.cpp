#include <unistd.h>

#include <filesystem>

#include "face/descriptor.hpp"
#include "face/model.hpp"
#include "face_test_util.hpp"

using namespace facecat;
namespace fs = std::filesystem;

TEST_CASE("descriptor base64 round trip", "[face]") {
  face::Descriptor d{};
  for (size_t i = 0; i < d.size(); ++i) d[i] = float(i) * 0.01f - 0.5f;
  auto s = face::encode_descriptor(d);
  CHECK(s.size() == 684);
  auto back = face::decode_descriptor(s);
  REQUIRE(back);
  CHECK(*back == d);
  CHECK(face::descriptor_distance(d, *back) == 0.0f);
  CHECK_FALSE(face::decode_descriptor("AAAA"));
  CHECK_FALSE(face::decode_descriptor("not base64 at all!"));
}

TEST_CASE("missing face-api weights give one clear error", "[face]") {
  face::ModelSpec spec;
  spec.models_dir = fs::temp_directory_path() / "facecat-no-models-here";
  auto r = face::load_encoder(spec);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("facecat-catalog models fetch"));
  spec.user_dat = spec.models_dir / "nope.dat";
  auto r2 = face::load_encoder(spec);
  REQUIRE_FALSE(r2);
  CHECK_THAT(r2.error().message, Catch::Contains("not found"));
}

TEST_CASE("a user .dat (the converted face-api weights) gives identical descriptors under its own model id",
          "[face][models]") {
  test::require_face_data();
  auto& an = test::analyzer();
  face::DetectParams p;
  p.keep_chips = true;
  auto img = an.analyze(test::faces_dir() / "face_recognition/obama/obama.jpg", p);
  REQUIRE(img);
  REQUIRE(img->faces.size() == 1);
  const auto& f = img->faces[0];
  REQUIRE(f.has_descriptor);

  fs::path dir = fs::temp_directory_path() / ("facecat-test-dat-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path dat = dir / "my_model.dat";
  REQUIRE(face::convert_faceapi_weights(face::faceapi_manifest_path(test::models_dir()),
                                        face::faceapi_bin_path(test::models_dir()), dat));
  face::ModelSpec spec;
  spec.models_dir = dir;  // no face-api weights there: the .dat alone must do
  spec.user_dat = dat;
  auto enc = face::load_encoder(spec);
  REQUIRE(enc);
  CHECK(enc->model_id().rfind("dlib-dat-", 0) == 0);
  CHECK(enc->model_id().size() == std::string("dlib-dat-").size() + 16);
  CHECK(an.model_id().rfind("faceapi-resnet-", 0) == 0);
  CHECK(enc->model_id() != an.model_id());
  auto d = enc->describe({f.chip});
  REQUIRE(d);
  REQUIRE(d->size() == 1);
  CHECK(face::descriptor_distance((*d)[0], f.descriptor) < 1e-6f);

  // The same model loaded twice has the same id (stable), and a copy of an encoder works alone.
  auto enc2 = face::load_encoder(spec);
  REQUIRE(enc2);
  CHECK(enc2->model_id() == enc->model_id());
  face::Encoder copy = *enc2;
  auto d2 = copy.describe({f.chip, f.chip});
  REQUIRE(d2);
  CHECK(face::descriptor_distance((*d2)[1], f.descriptor) < 1e-6f);
  fs::remove_all(dir);
}

TEST_CASE("the face-api conversion is cached under models_dir/cache", "[face][models]") {
  test::require_face_data();
  test::analyzer();  // loads (and converts on first use)
  auto id = test::analyzer().model_id();
  CHECK(fs::is_regular_file(test::models_dir() / "cache" / (id + ".dat")));
}

TEST_CASE("the OpenCV DNN build of the face net agrees with dlib's within 1e-4", "[face][models]") {
  test::require_face_data();
  face::DetectParams p;
  p.keep_chips = true;
  auto img = test::analyzer().analyze(test::faces_dir() / "face_recognition/_groups_unlabeled/obama_and_biden.jpg", p);
  REQUIRE(img);
  REQUIRE(img->faces.size() >= 2);
  std::vector<face::Chip> chips;
  for (const auto& f : img->faces) chips.push_back(f.chip);
  face::ModelSpec spec;
  spec.models_dir = test::models_dir();
  spec.backend = "dlib";
  auto dl = face::load_encoder(spec);
  REQUIRE(dl);
  CHECK(dl->backend() == "dlib");
  spec.backend = "opencv";
  auto cv = face::load_encoder(spec);
  REQUIRE(cv);
  CHECK(cv->backend() == "opencv");
  CHECK(cv->model_id() == dl->model_id());  // same weights, same id
  auto a = dl->describe(chips);
  auto b = cv->describe(chips, 2);  // batches of 2: a partial last batch too
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->size() == chips.size());
  REQUIRE(b->size() == chips.size());
  float worst = 0;
  for (size_t i = 0; i < chips.size(); ++i)
    for (size_t j = 0; j < face::kDescriptorDims; ++j) worst = std::max(worst, std::abs((*a)[i][j] - (*b)[i][j]));
  WARN("OpenCV DNN vs dlib: max |difference| " << worst << " over " << chips.size() << " real face chips");
  CHECK(worst < 1e-4f);
  // Different faces still differ (the comparison above is not trivially true).
  CHECK(face::descriptor_distance((*b)[0], (*b)[1]) > 0.3f);
  // A copy rebuilds its own network and gives the same answer; non-150 chips are resized as with dlib.
  face::Encoder copy = *cv;
  auto c = copy.describe({chips[0]});
  REQUIRE(c);
  CHECK(face::descriptor_distance((*c)[0], (*b)[0]) < 1e-5f);
  face::Chip small;
  small.size = 100;
  small.rgb.assign(100 * 100 * 3, 90);
  auto sa = dl->describe({small});
  auto sb = cv->describe({small});
  REQUIRE(sa);
  REQUIRE(sb);
  CHECK(face::descriptor_distance((*sa)[0], (*sb)[0]) < 1e-4f);
  spec.backend = "tensorflow";
  CHECK_FALSE(face::load_encoder(spec));
}
