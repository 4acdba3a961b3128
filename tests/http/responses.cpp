#include "responses.hpp"

#include <catch2/catch.hpp>
#include <strings.h>

namespace gatio::http::test {

std::string Response::header(std::string_view name) const {
    std::string found;
    int count = 0;
    for (const auto& [k, v] : headers) {
        if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) {
            found = v;
            ++count;
        }
    }
    INFO("header " << name);
    REQUIRE(count <= 1);
    return found;
}

bool Response::has(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) {
            return true;
        }
    }
    return false;
}

std::vector<Response> split_responses(std::string_view stream, const std::vector<bool>& answers_head,
                                      std::string* rest) {
    std::vector<Response> out;
    std::size_t finals = 0;
    std::size_t pos = 0;
    while (pos < stream.size()) {
        const std::size_t head_end = stream.find("\r\n\r\n", pos);
        if (head_end == std::string_view::npos) {
            break;
        }
        Response r;
        const std::string_view head = stream.substr(pos, head_end - pos);
        std::size_t line_end = head.find("\r\n");
        const std::string_view status_line = head.substr(0, line_end);
        const std::size_t sp1 = status_line.find(' ');
        REQUIRE(sp1 != std::string_view::npos);
        r.version = std::string(status_line.substr(0, sp1));
        r.status = std::stoi(std::string(status_line.substr(sp1 + 1, 3)));
        r.reason = status_line.size() > sp1 + 5 ? std::string(status_line.substr(sp1 + 5)) : "";
        while (line_end != std::string_view::npos) {
            const std::size_t start = line_end + 2;
            line_end = head.find("\r\n", start);
            const std::string_view line = head.substr(start, line_end - start);
            const std::size_t colon = line.find(':');
            REQUIRE(colon != std::string_view::npos);
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') {
                value.remove_prefix(1);
            }
            r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
        }
        std::size_t body_len = 0;
        const bool interim = r.status < 200;
        const bool head_answer = !interim && finals < answers_head.size() && answers_head[finals];
        // 304 and 204 never have a body (RFC 9110 sections 15.4.5 and 15.3.5).
        if (!interim && !head_answer && r.status != 304 && r.status != 204) {
            body_len = std::stoul(r.header("Content-Length"));
        }
        const std::size_t body_start = head_end + 4;
        if (stream.size() - body_start < body_len) {
            break;
        }
        r.body = std::string(stream.substr(body_start, body_len));
        pos = body_start + body_len;
        finals += interim ? 0 : 1;
        out.push_back(std::move(r));
    }
    if (rest) {
        *rest = std::string(stream.substr(pos));
    }
    return out;
}

} // namespace gatio::http::test
