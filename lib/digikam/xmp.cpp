#include "digikam/xmp.hpp"

#include <algorithm>
#include <pugixml.hpp>
#include <set>
#include <sstream>

#include "util/text.hpp"

namespace facecat::digikam {
namespace {

constexpr const char* kRdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
constexpr const char* kX = "adobe:ns:meta/";
constexpr const char* kMwgRs = "http://www.metadataworkinggroup.com/schemas/regions/";
constexpr const char* kStArea = "http://ns.adobe.com/xmp/sType/Area#";
constexpr const char* kStDim = "http://ns.adobe.com/xap/1.0/sType/Dimensions#";
constexpr const char* kMP = "http://ns.microsoft.com/photo/1.2/";
constexpr const char* kMPRI = "http://ns.microsoft.com/photo/1.2/t/RegionInfo#";
constexpr const char* kMPReg = "http://ns.microsoft.com/photo/1.2/t/Region#";
constexpr const char* kDigiKam = "http://www.digikam.org/ns/1.0/";
constexpr const char* kLr = "http://ns.adobe.com/lightroom/1.0/";
constexpr const char* kDc = "http://purl.org/dc/elements/1.1/";
constexpr const char* kTiff = "http://ns.adobe.com/tiff/1.0/";

constexpr unsigned kParseFlags = pugi::parse_default | pugi::parse_pi | pugi::parse_comments |
                                 pugi::parse_declaration | pugi::parse_ws_pcdata_single;

// ---- namespace-aware access on top of pugixml (which only sees qualified names) ---------------------------------

std::string_view prefix_of(std::string_view q) {
  auto c = q.find(':');
  return c == std::string_view::npos ? std::string_view() : q.substr(0, c);
}
std::string_view local_of(std::string_view q) {
  auto c = q.find(':');
  return c == std::string_view::npos ? q : q.substr(c + 1);
}

// The namespace bound to a prefix where `scope` stands ("" when unbound).
std::string ns_uri(pugi::xml_node scope, std::string_view prefix) {
  std::string attr = prefix.empty() ? std::string("xmlns") : "xmlns:" + std::string(prefix);
  for (auto n = scope; n; n = n.parent()) {
    if (n.type() != pugi::node_element) continue;
    if (auto a = n.attribute(attr.c_str())) return a.value();
  }
  return {};
}

bool elem_is(pugi::xml_node n, const char* uri, std::string_view local) {
  if (n.type() != pugi::node_element) return false;
  std::string_view q = n.name();
  return local_of(q) == local && ns_uri(n, prefix_of(q)) == uri;
}

bool attr_is(pugi::xml_node owner, pugi::xml_attribute a, const char* uri, std::string_view local) {
  std::string_view q = a.name();
  auto p = prefix_of(q);
  if (p.empty() || p == "xmlns") return false;  // unprefixed attributes have no namespace
  return local_of(q) == local && ns_uri(owner, p) == uri;
}

// The nodes whose attributes and child elements hold a struct's fields: the property element itself (shorthand
// attributes or rdf:parseType="Resource" children) and an rdf:Description inside it.
std::vector<pugi::xml_node> field_hosts(pugi::xml_node v) {
  std::vector<pugi::xml_node> hosts{v};
  for (auto c : v.children())
    if (elem_is(c, kRdf, "Description")) hosts.push_back(c);
  return hosts;
}

std::optional<std::string> get_field(pugi::xml_node v, const char* uri, std::string_view local) {
  for (auto h : field_hosts(v)) {
    for (auto a : h.attributes())
      if (attr_is(h, a, uri, local)) return std::string(a.value());
    for (auto c : h.children())
      if (elem_is(c, uri, local)) return std::string(c.child_value());
  }
  return std::nullopt;
}

pugi::xml_node field_node(pugi::xml_node v, const char* uri, std::string_view local) {
  for (auto h : field_hosts(v))
    for (auto c : h.children())
      if (elem_is(c, uri, local)) return c;
  return {};
}

bool has_field_in_ns(pugi::xml_node v, const char* uri) {
  for (auto h : field_hosts(v)) {
    for (auto a : h.attributes())
      if (prefix_of(a.name()) != "xmlns" && !prefix_of(a.name()).empty() && ns_uri(h, prefix_of(a.name())) == uri)
        return true;
    for (auto c : h.children())
      if (c.type() == pugi::node_element && ns_uri(c, prefix_of(c.name())) == uri) return true;
  }
  return false;
}

bool is_parse_type_resource(pugi::xml_node v) {
  for (auto a : v.attributes())
    if (attr_is(v, a, kRdf, "parseType") && std::string_view(a.value()) == "Resource") return true;
  return false;
}

// The top-level rdf:Description that contains n (namespace declarations for new content go there).
pugi::xml_node description_of(pugi::xml_node n) {
  for (; n; n = n.parent())
    if (elem_is(n, kRdf, "Description") && elem_is(n.parent(), kRdf, "RDF")) return n;
  return {};
}

// A prefix we may write element and attribute names with: an ASCII NCName (letter or '_', then letters, digits,
// '-', '_', '.'). pugixml accepts any declared name; writing an invalid one back would make the file unreadable.
bool reusable_prefix(std::string_view p) {
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (p.empty() || !alpha(p[0])) return false;
  for (char c : p)
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '.') return false;
  return true;
}

// A prefix bound to uri where `at` stands; declares one on the enclosing rdf:Description when none is.
std::string prefix_for(pugi::xml_node at, const char* uri, const std::string& preferred) {
  std::set<std::string> seen;
  for (auto n = at; n; n = n.parent()) {
    if (n.type() != pugi::node_element) continue;
    for (auto a : n.attributes()) {
      std::string_view q = a.name();
      if (!util::starts_with(q, "xmlns:")) continue;
      std::string p(q.substr(6));
      if (!reusable_prefix(p)) continue;  // "xmlns:a:b", "xmlns:-x": malformed input, never written back
      if (!seen.insert(p).second) continue;  // shadowed by an inner declaration
      if (std::string_view(a.value()) == uri) return p;
    }
  }
  // A prefix that is used but not declared here (malformed input: "stDim:w" without xmlns:stDim) is taken too:
  // declaring it now would give that name a second attribute of the same name or a meaning it did not have.
  auto note_used = [&](pugi::xml_node n) {
    if (n.type() != pugi::node_element) return;
    if (auto p = prefix_of(n.name()); !p.empty()) seen.insert(std::string(p));
    for (auto a : n.attributes())
      if (auto p = prefix_of(a.name()); !p.empty() && p != "xmlns") seen.insert(std::string(p));
  };
  // The new declaration goes on the enclosing rdf:Description, so every name in that subtree is in its scope
  // (found by fuzz_xmp: an undeclared "facecat:..." attribute in a sibling region became facecat's own).
  auto host = description_of(at);
  if (!host) host = at;
  for (auto n = at; n; n = n.parent()) note_used(n);
  for (auto n = host.first_child(); n && n != host;) {  // host's subtree, without recursion
    note_used(n);
    if (n.first_child()) {
      n = n.first_child();
    } else {
      while (n != host && !n.next_sibling()) n = n.parent();
      if (n != host) n = n.next_sibling();
    }
  }
  std::string p = preferred;
  for (int i = 2; seen.count(p); ++i) p = preferred + std::to_string(i);
  host.append_attribute(("xmlns:" + p).c_str()) = uri;
  return p;
}

std::string qn(pugi::xml_node at, const char* uri, const char* preferred, const char* local) {
  return prefix_for(at, uri, preferred) + ":" + local;
}

// Sets a simple struct field where it already is, or adds it in the form the struct already uses.
void set_field(pugi::xml_node v, const char* uri, const char* preferred, const char* local, const std::string& value) {
  for (auto h : field_hosts(v)) {
    for (auto a : h.attributes())
      if (attr_is(h, a, uri, local)) {
        if (value != a.value()) a.set_value(value.c_str());
        return;
      }
    for (auto c : h.children())
      if (elem_is(c, uri, local)) {
        if (value != c.child_value()) c.text().set(value.c_str());
        return;
      }
  }
  auto hosts = field_hosts(v);
  if (is_parse_type_resource(v)) {
    v.append_child(qn(v, uri, preferred, local).c_str()).text().set(value.c_str());
  } else {
    auto h = hosts.size() > 1 ? hosts[1] : v;
    h.append_attribute(qn(h, uri, preferred, local).c_str()) = value.c_str();
  }
}

pugi::xml_node find_property(const std::vector<pugi::xml_node>& descs, const char* uri, const char* local) {
  for (auto d : descs)
    for (auto c : d.children())
      if (elem_is(c, uri, local)) return c;
  return {};
}

// The rdf:Bag / rdf:Seq / rdf:Alt of an array property.
pugi::xml_node array_of(pugi::xml_node prop) {
  for (auto c : prop.children())
    if (elem_is(c, kRdf, "Bag") || elem_is(c, kRdf, "Seq") || elem_is(c, kRdf, "Alt")) return c;
  return {};
}

// A new rdf:Bag / rdf:Seq in `prop`. Whitespace-only text left in `prop` goes first: beside an element it would
// be written on a line of its own, and dropped when read back (parse_ws_pcdata_single), so a second merge would
// not give the same bytes.
pugi::xml_node new_array(pugi::xml_node prop, const char* container) {
  for (auto c = prop.first_child(); c;) {
    auto next = c.next_sibling();
    if (c.type() == pugi::node_pcdata && util::trim(c.value()).empty()) prop.remove_child(c);
    c = next;
  }
  return prop.append_child(qn(prop, kRdf, "rdf", container).c_str());
}

std::vector<pugi::xml_node> items_of(pugi::xml_node array) {
  std::vector<pugi::xml_node> out;
  for (auto c : array.children())
    if (elem_is(c, kRdf, "li")) out.push_back(c);
  return out;
}

std::optional<double> number(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return util::parse_double(util::trim(*s));
}

std::optional<std::string> non_empty(std::optional<std::string> s) {
  if (s && util::trim(*s).empty()) return std::nullopt;
  return s;
}

std::optional<Normalized> mwg_area_of(pugi::xml_node li) {
  auto area = field_node(li, kMwgRs, "Area");
  if (!area) return std::nullopt;
  auto x = number(get_field(area, kStArea, "x")), y = number(get_field(area, kStArea, "y"));
  auto w = number(get_field(area, kStArea, "w")), h = number(get_field(area, kStArea, "h"));
  if (!x || !y || !w || !h) return std::nullopt;
  return Normalized{*x, *y, *w, *h};
}

std::optional<Normalized> mp_area_of(pugi::xml_node li) {
  auto r = get_field(li, kMPReg, "Rectangle");
  if (!r) return std::nullopt;
  return parse_mp_rectangle(*r);
}

// digiKam turns '/' in a region name into '\'; compare names the way it will see them.
std::string face_key(const std::optional<std::string>& name) {
  std::string s = name ? util::trim(*name) : std::string();
  std::replace(s.begin(), s.end(), '/', '\\');
  return s;
}

bool duplicates_ours(const std::optional<std::string>& name, const std::optional<Rect>& px,
                     const std::vector<XmpRegion>& ours) {
  if (!px) return false;
  for (const auto& r : ours)
    if (r.stored == *px && face_key(r.name) == face_key(name)) return true;
  return false;
}

struct Located {
  pugi::xml_node rdf;
  std::vector<pugi::xml_node> descs;
};

Result<Located> locate(pugi::xml_document& doc) {
  Located l;
  for (auto top : doc.children()) {
    if (top.type() != pugi::node_element) continue;
    if (elem_is(top, kRdf, "RDF")) {
      l.rdf = top;
    } else if (elem_is(top, kX, "xmpmeta") || elem_is(top, kX, "xapmeta")) {
      for (auto c : top.children())
        if (elem_is(c, kRdf, "RDF")) {
          l.rdf = c;
          break;
        }
    }
    break;  // only the document element counts
  }
  if (!l.rdf) return make_error("no rdf:RDF element inside x:xmpmeta: not an XMP sidecar");
  for (auto c : l.rdf.children())
    if (elem_is(c, kRdf, "Description")) l.descs.push_back(c);
  return l;
}

void new_skeleton(pugi::xml_document& doc) {
  auto begin = doc.append_child(pugi::node_pi);
  begin.set_name("xpacket");
  begin.set_value("begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"");
  auto meta = doc.append_child("x:xmpmeta");
  meta.append_attribute("xmlns:x") = kX;
  meta.append_attribute("x:xmptk") = "facecat";
  auto rdf = meta.append_child("rdf:RDF");
  rdf.append_attribute("xmlns:rdf") = kRdf;
  auto end = doc.append_child(pugi::node_pi);
  end.set_name("xpacket");
  end.set_value("end=\"w\"");
}

// XML 1.0 cannot carry most control characters; a name from the catalog must not make the file unreadable.
std::string xml_safe(const std::string& s) {
  std::string out = util::is_valid_utf8(s) ? s : util::utf8_lossy(s);
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') c = ' ';
  return out;
}

// pugixml leaves '>' unescaped in attribute values, which is valid XML but stops exiftool's XMP reader in the
// middle of a region list. So every value is escaped here (including '>'), and saved with format_no_escapes.
std::string escape_text(std::string_view v, bool attribute) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += attribute ? "&quot;" : "\""; break;
      case '\r': out += "&#13;"; break;
      case '\n': out += attribute ? "&#10;" : "\n"; break;
      case '\t': out += attribute ? "&#9;" : "\t"; break;
      default: out += c;
    }
  }
  return out;
}

// Whitespace-only text beside other nodes is dropped when a sidecar is read (parse_ws_pcdata_single keeps it only
// as an element's single child), so it is dropped before writing too: a second merge then gives the same bytes.
void drop_mixed_whitespace(pugi::xml_node n) {
  for (auto c = n.first_child(); c;) {
    auto next = c.next_sibling();
    if (c.type() == pugi::node_element) {
      drop_mixed_whitespace(c);
    } else if (c.type() == pugi::node_pcdata && util::trim(c.value()).empty() &&
               (c.previous_sibling() || c.next_sibling())) {
      n.remove_child(c);
    }
    c = next;
  }
}

void escape_all(pugi::xml_node n) {
  for (auto c : n.children()) {
    if (c.type() == pugi::node_element) {
      for (auto a : c.attributes()) a.set_value(escape_text(a.value(), true).c_str());
      escape_all(c);
    } else if (c.type() == pugi::node_pcdata) {
      c.set_value(escape_text(c.value(), false).c_str());
    }
  }
}

// ---- the tag lists --------------------------------------------------------------------------------------------

struct TagList {
  const char* uri;
  const char* prefix;
  const char* local;
  const char* container;  // "Seq" or "Bag"
};

void merge_tag_list(pugi::xml_node main, const std::vector<pugi::xml_node>& descs, const TagList& t,
                    const std::vector<std::string>& want, const std::vector<std::string>& previously_ours) {
  auto prop = find_property(descs, t.uri, t.local);
  if (!prop && want.empty()) return;
  bool removed = false;
  if (!prop) prop = main.append_child(qn(main, t.uri, t.prefix, t.local).c_str());
  auto arr = array_of(prop);
  if (!arr) {
    // A simple value (or nothing) where an array belongs: keep a non-empty value as the first item.
    std::string old = util::trim(prop.child_value());
    for (auto c = prop.first_child(); c;) {
      auto next = c.next_sibling();
      if (c.type() == pugi::node_pcdata) prop.remove_child(c);
      c = next;
    }
    arr = prop.append_child(qn(prop, kRdf, "rdf", t.container).c_str());
    if (!old.empty()) arr.append_child(qn(arr, kRdf, "rdf", "li").c_str()).text().set(old.c_str());
  }
  if (!elem_is(arr, kRdf, t.container)) {
    // digiKam reads TagsList only from an rdf:Seq: turn a Bag into a Seq, keeping its items.
    arr.set_name(qn(arr, kRdf, "rdf", t.container).c_str());
  }
  std::set<std::string> want_set(want.begin(), want.end());
  std::set<std::string> present;
  for (auto li : items_of(arr)) {
    std::string v = li.child_value();
    bool stale = !want_set.count(v) && std::find(previously_ours.begin(), previously_ours.end(), v) !=
                                           previously_ours.end();
    if (stale || (present.count(v) && want_set.count(v))) {
      arr.remove_child(li);
      removed = true;
      continue;
    }
    present.insert(v);
  }
  for (const auto& w : want)
    if (!present.count(w)) arr.append_child(qn(arr, kRdf, "rdf", "li").c_str()).text().set(w.c_str());
  if (items_of(arr).empty() && (removed || want.empty())) prop.parent().remove_child(prop);
}

}  // namespace

std::string tags_list_item(const std::string& people_tag, const std::string& name) {
  std::string n = name;
  std::replace(n.begin(), n.end(), '/', '\\');
  return people_tag + "/" + n;
}

std::string hierarchical_item(const std::string& people_tag, const std::string& name) {
  std::string p = people_tag, n = name;
  std::replace(p.begin(), p.end(), '/', '|');
  std::replace(n.begin(), n.end(), '|', '\\');
  return p + "|" + n;
}

std::string sidecar_path(const std::string& image_path, bool compat_names) {
  if (!compat_names) return image_path + ".xmp";
  auto slash = image_path.rfind('/');
  auto dot = image_path.rfind('.');
  bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash + 1);
  return (has_ext ? image_path.substr(0, dot) : image_path) + ".xmp";
}

bool written_only_by_facecat(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size(), kParseFlags, pugi::encoding_utf8)) return false;
  for (auto top : doc.children()) {
    if (top.type() != pugi::node_element) continue;
    if (!elem_is(top, kX, "xmpmeta")) return false;
    for (auto a : top.attributes())
      if (attr_is(top, a, kX, "xmptk")) return std::string_view(a.value()) == "facecat";
    return false;
  }
  return false;
}

Result<std::vector<ReadRegion>> read_regions(std::string_view xml) {
  pugi::xml_document doc;
  auto pr = doc.load_buffer(xml.data(), xml.size(), kParseFlags, pugi::encoding_utf8);
  if (!pr) return make_error(std::string("not well-formed XML: ") + pr.description() + " at byte " +
                             std::to_string(pr.offset));
  auto loc = locate(doc);
  if (!loc) return loc.error();
  std::vector<ReadRegion> out;
  if (auto regions = find_property(loc->descs, kMwgRs, "Regions")) {
    auto list = field_node(regions, kMwgRs, "RegionList");
    for (auto li : items_of(array_of(list))) {
      auto a = mwg_area_of(li);
      if (!a) continue;
      out.push_back({"mwg", non_empty(get_field(li, kMwgRs, "Name")), *a, has_field_in_ns(li, kFacecatNs)});
    }
  }
  if (auto info = find_property(loc->descs, kMP, "RegionInfo")) {
    auto list = field_node(info, kMPRI, "Regions");
    for (auto li : items_of(array_of(list))) {
      auto a = mp_area_of(li);
      if (!a) continue;
      out.push_back({"mp", non_empty(get_field(li, kMPReg, "PersonDisplayName")), *a, has_field_in_ns(li, kFacecatNs)});
    }
  }
  return out;
}

Result<MergeOutcome> merge_sidecar(const std::string* existing, const XmpContent& content) {
  if (content.stored.w <= 0 || content.stored.h <= 0) return make_error("unknown image size");
  MergeOutcome out;
  pugi::xml_document doc;
  bool fresh = !existing || util::trim(*existing).empty();
  if (fresh) {
    new_skeleton(doc);
  } else {
    auto pr = doc.load_buffer(existing->data(), existing->size(), kParseFlags, pugi::encoding_utf8);
    if (!pr)
      return make_error(std::string("existing sidecar is not well-formed XML (") + pr.description() + " at byte " +
                        std::to_string(pr.offset) + "); it was left alone");
  }
  auto located = locate(doc);
  if (!located) return make_error("existing sidecar: " + located.error().message + "; it was left alone");
  auto loc = std::move(located).value();
  if (loc.descs.empty()) {
    auto d = loc.rdf.append_child(qn(loc.rdf, kRdf, "rdf", "Description").c_str());
    d.append_attribute(qn(d, kRdf, "rdf", "about").c_str()) = "";
    loc.descs.push_back(d);
  }
  pugi::xml_node main = loc.descs.front();

  std::vector<XmpRegion> regions = content.regions;
  for (auto& r : regions)
    if (r.name) r.name = xml_safe(*r.name);
  const Size st = content.stored;

  // A face another tool already shows under the same name with its own box (IoU >= 0.5, not the same pixels:
  // e.g. named in digiKam and imported by facecat) keeps that region, and facecat does not add a second one
  // (digiKam would show two faces). Same pixels anywhere: the duplicate rule below replaces the other tool's
  // region, and facecat's is written.
  {
    struct Seen {
      std::string name;
      Rect px;
      bool ours;
    };
    std::vector<Seen> seen;
    if (auto prop = find_property(loc.descs, kMwgRs, "Regions"))
      for (auto li : items_of(array_of(field_node(prop, kMwgRs, "RegionList"))))
        if (auto a = mwg_area_of(li))
          seen.push_back({face_key(non_empty(get_field(li, kMwgRs, "Name"))), from_mwg(*a, st),
                          has_field_in_ns(li, kFacecatNs)});
    if (auto prop = find_property(loc.descs, kMP, "RegionInfo"))
      for (auto li : items_of(array_of(field_node(prop, kMPRI, "Regions"))))
        if (auto a = mp_area_of(li))
          seen.push_back({face_key(non_empty(get_field(li, kMPReg, "PersonDisplayName"))), from_mp(*a, st),
                          has_field_in_ns(li, kFacecatNs)});
    regions.erase(std::remove_if(regions.begin(), regions.end(),
                                 [&](const XmpRegion& r) {
                                   if (!r.name) return false;
                                   bool overlapped = false;
                                   for (const auto& x : seen) {
                                     if (x.name != face_key(r.name)) continue;
                                     // the same pixels (a duplicate, or facecat's from before): written again
                                     if (x.px == r.stored) return false;
                                     if (!x.ours && iou(x.px, r.stored) >= 0.5) overlapped = true;
                                   }
                                   return overlapped;
                                 }),
                  regions.end());
  }

  // tiff:Orientation: never written; one left by another tool overrides the file's EXIF in digiKam.
  for (auto d : loc.descs)
    if (auto o = get_field(d, kTiff, "Orientation"); o && util::trim(*o) != std::to_string(content.orientation))
      out.warnings.push_back("the sidecar has tiff:Orientation " + util::trim(*o) + " but the image's EXIF says " +
                             std::to_string(content.orientation) +
                             "; digiKam will use the sidecar's (facecat leaves it alone)");

  // ---- MWG regions ----
  {
    auto prop = find_property(loc.descs, kMwgRs, "Regions");
    bool removed = false;
    if (!prop && !regions.empty()) {
      prop = main.append_child(qn(main, kMwgRs, "mwg-rs", "Regions").c_str());
      prop.append_attribute(qn(prop, kRdf, "rdf", "parseType").c_str()) = "Resource";
    }
    if (prop) {
      auto list = field_node(prop, kMwgRs, "RegionList");
      if (!list) {
        auto host = field_hosts(prop).back();
        list = host.append_child(qn(host, kMwgRs, "mwg-rs", "RegionList").c_str());
      }
      auto bag = array_of(list);
      if (!bag) bag = new_array(list, "Bag");
      for (auto li : items_of(bag)) {
        std::optional<Rect> px;
        if (auto a = mwg_area_of(li)) px = from_mwg(*a, st);
        if (has_field_in_ns(li, kFacecatNs) || duplicates_ours(non_empty(get_field(li, kMwgRs, "Name")), px, regions)) {
          bag.remove_child(li);
          removed = true;
        } else {
          ++out.foreign_regions;
        }
      }
      if (!regions.empty()) {
        auto dims = field_node(prop, kMwgRs, "AppliedToDimensions");
        if (!dims) {
          auto host = field_hosts(prop).back();
          dims = host.insert_child_before(qn(host, kMwgRs, "mwg-rs", "AppliedToDimensions").c_str(),
                                          host.first_child());
          if (!dims) dims = host.append_child(qn(host, kMwgRs, "mwg-rs", "AppliedToDimensions").c_str());
        }
        set_field(dims, kStDim, "stDim", "w", std::to_string(st.w));
        set_field(dims, kStDim, "stDim", "h", std::to_string(st.h));
        set_field(dims, kStDim, "stDim", "unit", "pixel");
      }
      for (const auto& r : regions) {
        auto li = bag.append_child(qn(bag, kRdf, "rdf", "li").c_str());
        li.append_attribute(qn(li, kRdf, "rdf", "parseType").c_str()) = "Resource";
        if (r.name) li.append_child(qn(li, kMwgRs, "mwg-rs", "Name").c_str()).text().set(r.name->c_str());
        li.append_child(qn(li, kMwgRs, "mwg-rs", "Type").c_str()).text().set("Face");
        auto area = li.append_child(qn(li, kMwgRs, "mwg-rs", "Area").c_str());
        auto n = mwg_area(r.stored, st);
        area.append_attribute(qn(area, kStArea, "stArea", "x").c_str()) = format_number(n.x).c_str();
        area.append_attribute(qn(area, kStArea, "stArea", "y").c_str()) = format_number(n.y).c_str();
        area.append_attribute(qn(area, kStArea, "stArea", "w").c_str()) = format_number(n.w).c_str();
        area.append_attribute(qn(area, kStArea, "stArea", "h").c_str()) = format_number(n.h).c_str();
        area.append_attribute(qn(area, kStArea, "stArea", "unit").c_str()) = "normalized";
        li.append_child(qn(li, kFacecatNs, "facecat", "Source").c_str()).text().set("facecat");
      }
      if (items_of(bag).empty() && (removed || regions.empty())) prop.parent().remove_child(prop);
    }
  }

  // ---- MP regions ----
  {
    auto prop = find_property(loc.descs, kMP, "RegionInfo");
    bool removed = false;
    if (!prop && !regions.empty()) {
      prop = main.append_child(qn(main, kMP, "MP", "RegionInfo").c_str());
      prop.append_attribute(qn(prop, kRdf, "rdf", "parseType").c_str()) = "Resource";
    }
    if (prop) {
      auto list = field_node(prop, kMPRI, "Regions");
      if (!list) {
        auto host = field_hosts(prop).back();
        list = host.append_child(qn(host, kMPRI, "MPRI", "Regions").c_str());
      }
      auto bag = array_of(list);
      if (!bag) bag = new_array(list, "Bag");
      for (auto li : items_of(bag)) {
        std::optional<Rect> px;
        if (auto a = mp_area_of(li)) px = from_mp(*a, st);
        if (has_field_in_ns(li, kFacecatNs) ||
            duplicates_ours(non_empty(get_field(li, kMPReg, "PersonDisplayName")), px, regions)) {
          bag.remove_child(li);
          removed = true;
        } else {
          ++out.foreign_regions;
        }
      }
      for (const auto& r : regions) {
        auto li = bag.append_child(qn(bag, kRdf, "rdf", "li").c_str());
        if (r.name) li.append_attribute(qn(li, kMPReg, "MPReg", "PersonDisplayName").c_str()) = r.name->c_str();
        li.append_attribute(qn(li, kMPReg, "MPReg", "Rectangle").c_str()) =
            mp_rectangle_string(mp_rect(r.stored, st)).c_str();
        li.append_attribute(qn(li, kFacecatNs, "facecat", "Source").c_str()) = "facecat";
      }
      if (items_of(bag).empty() && (removed || regions.empty())) prop.parent().remove_child(prop);
    }
  }

  // ---- tags ----
  std::vector<std::string> people;
  for (const auto& p : content.people) {
    auto s = xml_safe(util::trim(p));
    if (!s.empty() && std::find(people.begin(), people.end(), s) == people.end()) people.push_back(s);
  }
  std::vector<std::string> old_people;
  auto ours_prop = find_property(loc.descs, kFacecatNs, "People");
  if (ours_prop)
    for (auto li : items_of(array_of(ours_prop))) old_people.emplace_back(li.child_value());

  auto derive = [&](const std::vector<std::string>& names, int which) {
    std::vector<std::string> v;
    for (const auto& n : names)
      v.push_back(which == 0 ? tags_list_item(content.people_tag, n)
                             : which == 1 ? hierarchical_item(content.people_tag, n) : n);
    return v;
  };
  merge_tag_list(main, loc.descs, {kDigiKam, "digiKam", "TagsList", "Seq"}, derive(people, 0), derive(old_people, 0));
  merge_tag_list(main, loc.descs, {kLr, "lr", "hierarchicalSubject", "Bag"}, derive(people, 1),
                 derive(old_people, 1));
  merge_tag_list(main, loc.descs, {kDc, "dc", "subject", "Bag"}, derive(people, 2), derive(old_people, 2));

  // facecat:People: the names facecat put into the lists above, so it can take them out again later.
  if (people.empty()) {
    if (ours_prop) ours_prop.parent().remove_child(ours_prop);
  } else {
    if (!ours_prop) ours_prop = main.append_child(qn(main, kFacecatNs, "facecat", "People").c_str());
    auto bag = array_of(ours_prop);
    if (!bag) bag = new_array(ours_prop, "Bag");
    for (auto li : items_of(bag)) bag.remove_child(li);
    for (const auto& p : people) bag.append_child(qn(bag, kRdf, "rdf", "li").c_str()).text().set(p.c_str());
  }

  drop_mixed_whitespace(doc);
  escape_all(doc);
  std::ostringstream os;
  doc.save(os, " ", pugi::format_indent | pugi::format_no_declaration | pugi::format_no_escapes, pugi::encoding_utf8);
  out.xml = os.str();
  return out;
}

}  // namespace facecat::digikam
