// Quickstart in C++: apply for a mainland refund, then wait until it is final.
// Build and run it against the simulator as the README's "C++ quickstart" says.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

#include "wxrefund.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " CONFIG_JSON_FILE\n";
        return 2;
    }
    std::ifstream file(argv[1], std::ios::binary);
    if (!file) {
        std::cerr << "cannot read " << argv[1] << "\n";
        return 2;
    }
    std::ostringstream config;
    config << file.rdbuf();
    std::cout << "wxrefund " << wxrefund::Client::version() << "\n";
    // The library's log records (never a secret); the handler may run on any thread.
    wxrefund::set_log_callback(wxrefund::LogLevel::Info,
                               [](wxrefund::LogLevel, std::string_view message, std::string_view fields_json) {
                                   std::cerr << "wxrefund: " << message << " " << fields_json << "\n";
                               });

    try {
        wxrefund::Client client = wxrefund::Client::from_config(config.str());

        // One logical refund = one out_refund_no, reused for every retry.
        const std::string out_refund_no =
            "CPP" + std::to_string(std::chrono::system_clock::now().time_since_epoch() / std::chrono::seconds(1));
        const std::string query = R"({"out_refund_no":")" + out_refund_no + R"("})";
        std::string answer;
        try {
            answer = client.create_refund(R"({"out_trade_no":"T20261122000001","out_refund_no":")" + out_refund_no +
                                          R"(","reason":"quickstart","amount":{"refund":100,"total":10000,"currency":"CNY"}})");
        } catch (const wxrefund::Error& e) {
            // The platform may have it: look before deciding.
            if (!e.outcome_unknown()) throw;
            answer = client.query_refund(query);
        }
        wxrefund::Refund refund(answer);
        std::cout << "accepted: " << refund.out_refund_no() << " " << refund.status() << " (refund_id "
                  << refund.refund_id() << ")\n";

        // Queries at once, then after 1, 2, 4, ... s; throws Error TIMEOUT (with e.last_refund())
        // when the refund is still not final after a minute.
        answer = client.wait_for_final(query, std::chrono::minutes(1));
        refund = wxrefund::Refund(answer);
        // is_final() (SUCCESS or CLOSED), or action_required() (ABNORMAL: see the merchant platform).
        std::cout << "final: " << refund.status() << ", " << refund.field("amount")["refund"].as_int64()
                  << " fen back\n"
                  << answer << "\n";
        return 0;
    } catch (const wxrefund::Error& e) {
        std::cerr << "failed: " << e.status_name() << " " << e.message() << " (code " << e.code() << ", retryable "
                  << e.retryable() << ", request " << e.request_id() << ")\n"
                  << e.json() << "\n";
        return 1;
    } catch (const wxrefund::JsonError& e) {
        std::cerr << "unexpected answer: " << e.what() << "\n";
        return 1;
    }
}
