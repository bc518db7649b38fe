// "Did you mean …?" for mistyped options, subcommands and config keys (ninja's SpellcheckString).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace facecat::util {

// Edit distance with adjacent transpositions (optimal string alignment, "Damerau-Levenshtein"): insert, delete,
// replace and swap two neighbours each cost 1. Byte-wise.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to what was typed: compared without case, at most max(1, min(3, typed/3)) edits away; ties
// go to the earlier candidate. nullopt when nothing is close.
std::optional<std::string> closest_match(std::string_view typed, const std::vector<std::string>& candidates);
// ", did you mean 'X'?" for the closest match, or "" when nothing is close.
std::string did_you_mean(std::string_view typed, const std::vector<std::string>& candidates);

}  // namespace facecat::util
