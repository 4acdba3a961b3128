// Splits what an HTTP server sent into responses, for checking answers byte-exactly where it
// matters and field by field elsewhere.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatio::http::test {

struct Response {
    std::string version;
    int status = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // The value of the only field named `name` (any case); "" when absent. Fails the test
    // when the field is repeated.
    std::string header(std::string_view name) const;
    bool has(std::string_view name) const;
};

// The complete responses at the start of `stream`. answers_head[i] says the i-th final
// response answers a HEAD (it has no body whatever Content-Length says); interim 1xx responses
// are returned too but do not count in that index. Bytes of an incomplete last response are
// left in *rest when given.
std::vector<Response> split_responses(std::string_view stream, const std::vector<bool>& answers_head = {},
                                      std::string* rest = nullptr);

} // namespace gatio::http::test
