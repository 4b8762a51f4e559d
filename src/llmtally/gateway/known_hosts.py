"""The upstreams llmtally knows by name: their base URL, wire kind and the
catalog provider id that prices their calls (issue 17's ids).

An upstream in ``llmtally.yaml`` may name one (``preset: dashscope``) instead of
spelling out ``kind``, ``base_url`` and ``provider``; an upstream whose
``base_url`` is one of these hosts is priced by its provider id when it names
none. Both are settled once, when the config is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["KNOWN_HOSTS", "KnownHost", "provider_for_url"]


@dataclass(frozen=True, slots=True)
class KnownHost:
    kind: Literal["openai", "azure", "bedrock"]
    base_url: str
    provider: str  # the catalog's provider id
    reference: str  # the API reference the gateway's handling follows


KNOWN_HOSTS: dict[str, KnownHost] = {
    # Alibaba Cloud Model Studio (DashScope), OpenAI-compatible mode
    "dashscope": KnownHost(
        "openai",
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "alibaba-cn",
        "https://help.aliyun.com/zh/model-studio/compatibility-of-openai-with-dashscope",
    ),
    "dashscope-intl": KnownHost(
        "openai",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "alibaba",
        "https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
    ),
    # Moonshot AI (Kimi)
    "moonshot": KnownHost(
        "openai", "https://api.moonshot.cn/v1", "moonshot-cn",
        "https://platform.moonshot.cn/docs/api/chat",
    ),
    "moonshot-intl": KnownHost(
        "openai", "https://api.moonshot.ai/v1", "moonshot",
        "https://platform.moonshot.ai/docs/api/chat",
    ),
    # Zhipu AI (GLM): open.bigmodel.cn in China, Z.ai abroad
    "zhipu": KnownHost(
        "openai", "https://open.bigmodel.cn/api/paas/v4", "zhipu",
        "https://docs.bigmodel.cn/api-reference/模型-api/对话补全",
    ),
    "zai": KnownHost(
        "openai", "https://api.z.ai/api/paas/v4", "zai",
        "https://docs.z.ai/api-reference/llm/chat-completion",
    ),
    # ByteDance Doubao on Volcengine Ark
    "volcengine": KnownHost(
        "openai", "https://ark.cn-beijing.volces.com/api/v3", "volcengine",
        "https://www.volcengine.com/docs/82379/1494384",
    ),
    # Baidu ERNIE on Qianfan ModelBuilder, OpenAI-compatible v2 API (bearer API key)
    "qianfan": KnownHost(
        "openai", "https://qianfan.baidubce.com/v2", "baidu",
        "https://cloud.baidu.com/doc/qianfan-docs/s/7m8r1wke3",
    ),
}  # fmt: skip

# Hosts -> provider ids, for an upstream that names a base URL and no provider.
_HOSTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"dashscope\.aliyuncs\.com"), "alibaba-cn"),
    (re.compile(r"dashscope-intl\.aliyuncs\.com"), "alibaba"),
    (re.compile(r"api\.moonshot\.cn"), "moonshot-cn"),
    (re.compile(r"api\.moonshot\.ai"), "moonshot"),
    (re.compile(r"open\.bigmodel\.cn"), "zhipu"),
    (re.compile(r"api\.z\.ai"), "zai"),
    (re.compile(r"ark\.[a-z0-9-]+\.volces\.com"), "volcengine"),
    (re.compile(r"qianfan\.baidubce\.com"), "baidu"),
    (re.compile(r"bedrock-runtime(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"), "bedrock"),
)


def provider_for_url(url: str) -> str | None:
    """The provider id of a known host's URL, else None."""
    host = (urlsplit(url).hostname or "").lower()
    for pattern, provider in _HOSTS:
        if pattern.fullmatch(host):
            return provider
    return None
