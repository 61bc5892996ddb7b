"""The fake OpenAI-compatible server speaks what the real SDK expects, plain and streamed."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from tests.fakes.openai_server import Completion, openai_app
from tests.fakes.serve import serve

MESSAGES = [{"role": "user", "content": "oi"}]


async def test_plain_and_streamed_answers_through_the_sdk() -> None:
    app, fake = openai_app()
    async with serve(app) as url, httpx.AsyncClient() as http:
        client = AsyncOpenAI(api_key="k", base_url=url + "/v1", max_retries=0, http_client=http)
        fake.script(Completion(text="Olá!", prompt_tokens=3, completion_tokens=2))
        plain = await client.chat.completions.create(model="m", messages=MESSAGES)
        assert plain.choices[0].message.content == "Olá!"
        assert plain.usage is not None and (plain.usage.prompt_tokens, plain.usage.completion_tokens) == (
            3,
            2,
        )

        fake.script(Completion(text="Vou chamar alguém.", handoff="pediu gerente"))
        stream = await client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, arguments, name, usage = "", "", None, None
        async for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for call in choice.delta.tool_calls or []:
                    name = name or (call.function.name if call.function else None)
                    arguments += (call.function.arguments if call.function else None) or ""
        assert text == "Vou chamar alguém."
        assert (name, json.loads(arguments)) == ("handoff_to_human", {"reason": "pediu gerente"})
        assert usage is not None and usage.total_tokens == 49
        assert fake.requests[1].json["stream"] is True
        assert fake.last.headers["authorization"] == "Bearer k"

        fake.script(Completion(status=500))
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=MESSAGES)
        fake.on("ajuda", Completion(text="keyed"))
        keyed = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "preciso de ajuda"}],
        )
        assert keyed.choices[0].message.content == "keyed"
