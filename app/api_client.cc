#include "api_client.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <memory>

namespace shewhart::app {

namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

std::size_t Collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// `url` ("http://HOST:PORT" or "https://...") joined with `target` (path and query), checked by
// libcurl's URL parser. Empty, with `error` set, for anything else.
std::string JoinUrl(const std::string& url, const std::string& target, std::string& error) {
  std::unique_ptr<CURLU, CurlDeleter> u(curl_url());
  char* scheme = nullptr;
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_get(u.get(), CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
    error = "--url: expected http://HOST:PORT (or https://), found '" + url + "'";
    return "";
  }
  const std::string s = scheme;
  curl_free(scheme);
  if (s != "http" && s != "https") {
    error = "--url: expected http://HOST:PORT (or https://), found '" + url + "'";
    return "";
  }
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + target;
}

}  // namespace

std::optional<ApiReply> CallApi(const std::string& url, const std::string& method, const std::string& target,
                                const std::string& body, const std::string& token, std::string& error) {
  if (method != "GET" && method != "POST" && method != "DELETE") {
    error = "unknown HTTP method '" + method + "'";
    return std::nullopt;
  }
  const std::string full = JoinUrl(url, target, error);
  if (full.empty()) return std::nullopt;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) {
    error = "cannot start an HTTP client (libcurl)";
    return std::nullopt;
  }
  std::unique_ptr<curl_slist, CurlDeleter> headers;
  auto add_header = [&](const std::string& h) { headers.reset(curl_slist_append(headers.release(), h.c_str())); };
  if (!token.empty()) add_header("Authorization: Bearer " + token);
  std::string answer;
  char message[CURL_ERROR_SIZE] = "";
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, full.c_str());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "shewhart-cli");
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);  // the whole exchange
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, message);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  if (method == "POST") {
    add_header("Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else if (method == "DELETE") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
  }
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    error = "cannot reach the engine at " + url + ": " + (message[0] ? message : curl_easy_strerror(rc));
    return std::nullopt;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return ApiReply{static_cast<int>(status), std::move(answer)};
}

std::string ReadToken(const std::string& token, const std::string& token_file, std::string& error) {
  if (!token.empty()) return token;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      error = "cannot read a token from '" + token_file + "'";
      return "";
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
  }
  if (const char* env = std::getenv("SHEWHART_TOKEN"); env && *env) return env;
  error = "no token: give --token-file FILE or set SHEWHART_TOKEN (a token of the engine's http.tokens file)";
  return "";
}

std::string ApiError(const ApiReply& reply) {
  const auto j = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  return reply.body;
}

}  // namespace shewhart::app
