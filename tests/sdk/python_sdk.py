"""The official OpenAI Python SDK as a real client of orguard.

Driven by tests/sdk.rs, which starts a mock upstream and the gateway and passes their
addresses in the environment. Exits non-zero (with the failing assertion) on any mismatch.
"""

import json
import os
import sys

import openai


def main() -> None:
    base_url = os.environ["ORGUARD_BASE_URL"]
    client = openai.OpenAI(base_url=base_url, api_key=os.environ["ORGUARD_CLIENT_KEY"], max_retries=0)

    # 1. A plain chat completion.
    plain = client.chat.completions.create(
        model="openai/gpt-4o",
        messages=[{"role": "user", "content": "Say hello"}],
        extra_body={"provider": {"sort": "price"}},
    )
    assert plain.choices[0].message.content == "Hello from the mock", plain
    assert plain.usage.total_tokens == 7, plain.usage

    # 2. A streamed one.
    parts = []
    with client.chat.completions.create(
        model="openai/gpt-4o",
        messages=[{"role": "user", "content": "Count"}],
        stream=True,
    ) as stream:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    parts.append(choice.delta.content)
    assert "".join(parts) == "tok0 tok1 tok2 ", parts

    # 3. One with tools; the model answers with a tool call.
    tools = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }]
    with_tools = client.chat.completions.create(
        model="openai/gpt-4o",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=tools,
        tool_choice="auto",
    )
    call = with_tools.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather", call
    assert json.loads(call.function.arguments) == {"city": "Paris"}, call

    # 4. A gateway refusal surfaces as the SDK's typed error, not retried.
    try:
        openai.OpenAI(base_url=base_url, api_key="ogk_wrong", max_retries=2).chat.completions.create(
            model="openai/gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
        raise AssertionError("a wrong key must be refused")
    except openai.AuthenticationError as e:
        assert e.status_code == 401
        assert e.body["code"] == "invalid_api_key", e.body

    print("python sdk: 4 passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"python sdk assertion failed: {e!r}", file=sys.stderr)
        sys.exit(1)
