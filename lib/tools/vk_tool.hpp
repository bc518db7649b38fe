// facecat-vk: fetch (crawl friends and profile photos), suggest (people you may know), notify (messages.send).
#pragma once

namespace facecat::tools {
int vk_main(int argc, char** argv);
}  // namespace facecat::tools
