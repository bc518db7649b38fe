"""The fake VK server is faithful: every kind of answer it gives for the methods facecat-vk uses (friends.get,
users.get, photos.get, execute, messages.send) and every error it sends validate against VK's official JSON Schema
(../shared/testdata/vk-api-schema), so the client is tested against the real API's shapes, not our guesses."""
import json
import os
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakevk"))
from facecat_test import TESTDATA, check, check_eq, finish, need_testdata  # noqa: E402
from fake import FakeVK  # noqa: E402
from schema_check import Schemas, jsonschema  # noqa: E402

schema_dir = need_testdata("vk-api-schema")
S = Schemas(schema_dir)
print(f"python3-jsonschema cross-check: {'on' if jsonschema else 'off (not importable; the built-in validator runs)'}")
with open(os.path.join(schema_dir, "errors.json")) as fh:
    KNOWN_CODES = {e["code"] for e in json.load(fh)["errors"].values()}


def call(fake, method, token="user-token", **params):
    params.setdefault("v", "5.199")
    params["access_token"] = token
    data = urllib.parse.urlencode(params).encode()
    with urllib.request.urlopen(fake.api_base + "/" + method, data=data, timeout=30) as r:
        return json.load(r)


def valid(answer, rel, name, what):
    errs = S.check(answer, rel, name)
    check(not errs, f"{what} validates against {rel}#{name}" + (f": {errs[:3]}" if errs else ""))


def valid_error(answer, code, what):
    err = answer.get("error")
    if not check(isinstance(err, dict), f"{what}: an error answer ({json.dumps(answer)[:120]})"):
        return
    check_eq(err.get("error_code"), code, f"{what}: error_code")
    check(code in KNOWN_CODES, f"{what}: error {code} is listed in errors.json")
    errs = S.check(err, "base/objects.json", "base_error")
    check(not errs, f"{what}: error object validates against base_error" + (f": {errs[:3]}" if errs else ""))


# The validator itself must reject what the schema forbids, or the checks below prove nothing.
bad = {"response": {"count": 2, "items": ["a", "b"]}}
check(S.check(bad, "friends/responses.json", "friends_get_response"), "validator rejects string ids in friends.get")
check(S.check({"response": {"items": []}}, "friends/responses.json", "friends_get_response"),
      "validator rejects a missing required count")
check(S.check({"response": [{"first_name": "A"}]}, "users/responses.json", "users_get_response"),
      "validator rejects a user without id (required through allOf + $ref across files)")
check(S.check({"response": {"count": 1, "items": [{"id": 1, "album_id": 1, "date": 1, "owner_id": 1,
                                                     "has_tags": False, "sizes": [{"type": "huge", "width": 1,
                                                                                   "height": 1}]}]}},
              "photos/responses.json", "photos_get_response"), "validator rejects an unknown size type (enum)")

with FakeVK(testdata=TESTDATA, big_friends=5100, execute_max_items=20000,
            rate_limit={"user": 1000, "service": 1000, "group": 1000},
            quota={"photos.get": 1000}, messages_blocked=[101]) as fake:
    g = fake.graph()
    root = g["root"]
    users = g["users"]
    deleted = next(u for u, d in users.items() if d["status"] == "deleted")
    closed = next(u for u, d in users.items() if d["status"] == "closed" and int(u) not in users[str(root)]["friends"])
    banned = next(u for u, d in users.items() if d["status"] == "banned")
    with_photo = next(u for u, d in users.items() if d["photos"] and d["status"] == "open")

    # users.get: by screen name, with fields, deleted and banned users
    a = call(fake, "users.get", user_ids=f"fixture.root,{deleted},{banned},{closed}", fields="has_photo,screen_name,photo_200,photo_max_orig,photo_id")
    valid(a, "users/responses.json", "users_get_response", "users.get")
    check(any(u.get("deactivated") == "deleted" for u in a["response"]), "users.get shows a deleted user")
    for tok in ("service-token", "group-token"):
        valid(call(fake, "users.get", token=tok, user_ids=str(root)), "users/responses.json", "users_get_response",
              f"users.get with {tok}")
    # friends.get: ids, fields, paging, the big user
    valid(call(fake, "friends.get", user_id=root), "friends/responses.json", "friends_get_response",
          "friends.get (ids)")
    valid(call(fake, "friends.get", user_id=root, fields="has_photo,screen_name"), "friends/responses.json",
          "friends_get_fields_response", "friends.get (fields)")
    big = call(fake, "friends.get", user_id=g["big_user"], count=5000, offset=0, fields="has_photo")
    valid(big, "friends/responses.json", "friends_get_fields_response", "friends.get of a user with >5000 friends")
    check(big["response"]["count"] > 5000 and len(big["response"]["items"]) == 5000,
          "friends.get pages at 5000 (count > 5000, 5000 items)")
    rest = call(fake, "friends.get", user_id=g["big_user"], count=5000, offset=5000)
    check_eq(len(rest["response"]["items"]), big["response"]["count"] - 5000, "second page holds the rest")
    # photos.get
    ph = call(fake, "photos.get", owner_id=with_photo, album_id="profile", rev=1, photo_sizes=1, count=3)
    valid(ph, "photos/responses.json", "photos_get_response", "photos.get")
    check(all(s["url"].startswith(fake.base) for p in ph["response"]["items"] for s in p["sizes"]),
          "photo URLs point at the fake server")
    # execute: friends.get and photos.get batches, with a false sub-result and execute_errors
    code = "return {" + ",".join(
        f'"u{u}":API.friends.get({json.dumps({"user_id": int(u), "count": 5000, "fields": "has_photo"})})'
        for u in (str(root), deleted, closed)) + "};"
    ex = call(fake, "execute", code=code)
    valid(ex, "base/responses.json", "base_undefined_response", "execute (friends.get ×3)")
    fsub, _ = S.definition("friends/responses.json", "friends_get_fields_response")
    errs = S.validate(ex["response"][f"u{root}"], fsub["properties"]["response"], _)
    check(not errs, f"execute sub-result validates as friends.get's response {errs[:2]}")
    check(ex["response"][f"u{deleted}"] is False and ex["response"][f"u{closed}"] is False,
          "failed sub-calls are false")
    check([e["error_code"] for e in ex.get("execute_errors", [])] == [18, 30], "execute_errors lists 18 and 30")
    check(all(e["error_code"] in KNOWN_CODES and isinstance(e["method"], str) and isinstance(e["error_msg"], str)
              for e in ex.get("execute_errors", [])), "execute_errors items carry method, known code, message")
    pcode = "return {" + f'"p":API.photos.get({json.dumps({"owner_id": int(with_photo), "album_id": "profile", "rev": 1, "photo_sizes": 1, "count": 2})})' + "};"
    pex = call(fake, "execute", code=pcode)
    psub, pp = S.definition("photos/responses.json", "photos_get_response")
    check(not S.validate(pex["response"]["p"], psub["properties"]["response"], pp),
          "execute photos.get sub-result validates as photos.get's response")
    # messages.send
    valid(call(fake, "messages.send", token="group-token", user_id=root, random_id=12345, message="hi"),
          "messages/responses.json", "messages_send_deprecated_response", "messages.send")
    # errors
    valid_error(call(fake, "friends.get", token="expired-token", user_id=root), 5, "expired token")
    valid_error(call(fake, "friends.get", token="nope", user_id=root), 5, "unknown token")
    valid_error(call(fake, "friends.get", token="group-token", user_id=root), 27, "friends.get with a community token")
    valid_error(call(fake, "execute", token="service-token", code="return {};"), 28, "execute with a service token")
    valid_error(call(fake, "friends.get", user_id=deleted), 18, "friends.get of a deleted user")
    valid_error(call(fake, "friends.get", token="service-token", user_id=closed), 30, "friends.get of a closed user")
    valid_error(call(fake, "users.get", user_ids="no.such.name"), 113, "users.get of an unknown name")
    valid_error(call(fake, "messages.send", token="group-token", user_id=101, random_id=1, message="x"), 901,
                "messages.send to a user who did not allow it")
    many = "return {" + ",".join(f'"k{i}":API.users.get({{"user_ids":"1"}})' for i in range(26)) + "};"
    valid_error(call(fake, "execute", code=many), 13, "execute with 26 calls")
    huge = "return {" + ",".join(f'"k{i}":API.friends.get({{"user_id":{g["big_user"]},"count":5000}})'
                                   for i in range(5)) + "};"
    valid_error(call(fake, "execute", code=huge), 13, "execute answer over the size cap")

with FakeVK(testdata=TESTDATA, faults=[{"method": "users.get", "nth": [1], "error": 14},
                                       {"method": "users.get", "nth": [2], "error": 10},
                                       {"method": "users.get", "nth": [3], "error": 17}],
            quota={"friends.get": 0}) as fake:
    valid_error(call(fake, "friends.get", user_id=1), 29, "daily quota")
    a = call(fake, "users.get", user_ids="1")
    valid_error(a, 14, "captcha")
    check(all(k in a["error"] for k in ("captcha_sid", "captcha_img")), "captcha error carries captcha_sid and _img")
    valid_error(call(fake, "users.get", user_ids="1"), 10, "internal server error")
    valid_error(call(fake, "users.get", user_ids="1"), 17, "validation required")
    # error 6: more than 3 requests in one second with a user token
    codes = [call(fake, "users.get", user_ids="1").get("error", {}).get("error_code") for _ in range(5)]
    check(6 in codes, f"error 6 above 3 requests/s ({codes})")
    for a in [call(fake, "users.get", user_ids="1")]:
        if "error" in a:
            valid_error(a, 6, "too many requests per second")
finish()
