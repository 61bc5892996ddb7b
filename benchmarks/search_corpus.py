"""The history `inbox bench --search` searches: tenants' contacts, conversations and messages, made up
ahead of loading. Pure: no database, no network; the same seed gives the same rows.

Owns what the rows look like: Brazilian customer-service chat (Portuguese with its accents, order
numbers, phone numbers, e-mail addresses, a long tail of words), conversations of 2 to 48 messages
interleaved in time across tenants, ids in creation order, the conversations still going at the end
open (assigned, queued or with the bot) and the rest resolved. Also the probes the bench searches for.
"""

from __future__ import annotations

import random
import unicodedata
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

FIRST = ["Ana", "João", "Márcia", "José", "Luíza", "Antônio", "Fátima", "Sérgio", "Cláudia", "Paulo",
         "Beatriz", "Inês", "Rogério", "Vitória", "Joaquim", "Patrícia", "Conceição", "Fábio", "Débora",
         "Marcos", "Letícia", "Caio", "Sônia", "Thiago", "Lúcia", "Renato", "Mônica", "André", "Célia",
         "Gustavo"]  # fmt: skip
LAST = ["Silva", "Souza", "Oliveira", "Pereira", "Gonçalves", "Araújo", "Conceição", "Lima", "Magalhães",
        "Ribeiro", "Carvalho", "Gomes", "Simões", "Assunção", "Brandão", "Falcão", "Guimarães", "Romão",
        "Barbosa", "Nogueira"]  # fmt: skip
DOMAINS = ["gmail.com", "hotmail.com", "uol.com.br", "yahoo.com.br", "outlook.com", "bol.com.br"]
CITIES = ["São Paulo", "Belém", "Maceió", "Florianópolis", "Goiânia", "Ribeirão Preto", "Niterói",
          "Curitiba", "Brasília", "Vitória da Conquista", "Uberlândia", "Jundiaí"]  # fmt: skip
PRODUCTS = ["camiseta", "calça jeans", "tênis", "mochila", "jaqueta", "sandália", "bolsa", "relógio",
            "cafeteira", "liquidificador", "fone de ouvido", "capinha"]  # fmt: skip
GREET = ["Olá", "Oi", "Bom dia", "Boa tarde", "Boa noite", "Opa", "Oi, tudo bem?"]

# {g} greeting, {o} order number, {c} city, {p} product, {ph} phone, {e} e-mail, {n} name, {w} filler
CUSTOMER = [
    "{g}, gostaria de saber sobre o pedido {o}",
    "{g}! Meu pedido {o} ainda não chegou",
    "Qual o prazo de entrega para {c}?",
    "Vocês aceitam pix ou só cartão?",
    "Meu telefone é {ph}, podem me ligar",
    "Pode mandar a nota fiscal para {e}?",
    "Não recebi o código de rastreamento do pedido {o}",
    "Quero trocar o tamanho da {p}",
    "A {p} veio com defeito, como faço a devolução?",
    "Obrigado pela atenção!",
    "ok",
    "Sim, pode ser amanhã de manhã",
    "Qual o horário de funcionamento da loja de {c}?",
    "Preciso de informação sobre o boleto do pedido {o}",
    "Já paguei o pix, segue o comprovante",
    "{w}",
    "{w} {w2}",
    "{g}, {w}",
]
AGENT = [
    "Olá {n}, tudo bem? Vou verificar o pedido {o} para você.",
    "O prazo de entrega para {c} é de {d} dias úteis.",
    "Aceitamos pix, cartão de crédito e boleto.",
    "Enviamos a nota fiscal para {e}.",
    "Seu código de rastreamento é BR{t}.",
    "Posso ajudar em algo mais?",
    "A troca foi registrada, você receberá um e-mail de confirmação.",
    "Obrigada pelo contato, {n}! Tenha um ótimo dia.",
    "Para sua segurança, confirme o telefone {ph}, por favor.",
    "Só um instante, estou consultando a informação no sistema.",
    "{w}",
]
# Built words for the long tail: syllables with Portuguese spellings and accents.
_ONSETS = ["b", "c", "d", "f", "g", "j", "l", "m", "n", "p", "r", "s", "t", "v", "ch", "lh", "nh", "qu",
           "br", "tr", "pr", "gr", "cl"]  # fmt: skip
_NUCLEI = ["a", "e", "i", "o", "u", "á", "é", "í", "ó", "ú", "ã", "õ", "ê", "ô", "â"]
_CODAS = ["", "", "", "s", "r", "m", "l", "ção", "ções", "nto", "nte", "ssa", "ções"]
# A rare word: about one message in 25,000 has it (tens of hits in the searched tenant).
RARE_WORD = "trampolim"
RARE_EVERY = 25_000


def fold(s: str) -> str:
    """Lower-case, no accents: how PostgreSQL's `inbox_search_norm` compares (to check probes)."""
    return "".join(c for c in unicodedata.normalize("NFD", s.lower()) if unicodedata.category(c) != "Mn")


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        n = rng.choice((2, 2, 3, 3, 3, 4))
        w = "".join(rng.choice(_ONSETS) + rng.choice(_NUCLEI) for _ in range(n)) + rng.choice(_CODAS)
        words.add(w)
    return sorted(words)


@dataclass
class Tenant:
    """One tenant as the corpus sees it: ids are filled in by the loader before rows are made."""

    tenant_id: int
    channel_ids: list[int]
    weight: float  # its share of all messages
    agent_ids: list[int] = field(default_factory=list)
    queue_ids: list[int] = field(default_factory=list)
    active: int = 150  # conversations going on at once


@dataclass
class Conversation:
    tenant: int  # index into Corpus.tenants
    contact: int  # index into Corpus.contacts
    channel_id: int
    length: int
    first: int = -1  # index of its first message
    last: int = -1
    open: bool = False


@dataclass
class Contact:
    tenant: int
    name: str
    phone: str  # digits, as WhatsApp identities are stored
    email: str


class Corpus:
    """`total` messages over `tenants`; `plan()` first, then the row iterators."""

    def __init__(self, tenants: list[Tenant], total: int, seed: int = 15) -> None:
        self.tenants = tenants
        self.total = total
        self.rng = random.Random(seed)
        self.vocab = _vocabulary(self.rng, 3000)
        self._cum = _zipf_cum(len(self.vocab))
        self.contacts: list[Contact] = []
        self.conversations: list[Conversation] = []
        self.conv_of = array("l")  # message index -> conversation index
        self.start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
        self.step = timedelta(days=330) / max(total, 1)

    def at(self, i: int) -> datetime:
        return self.start + self.step * i

    def _contact(self, t: int) -> int:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        handle = fold(f"{first}.{last}").replace(" ", "") + str(rng.randint(1, 999))
        phone = f"55{rng.choice((11, 21, 31, 41, 48, 61, 62, 71, 82, 91))}9{rng.randint(10**7, 10**8 - 1)}"
        self.contacts.append(Contact(t, f"{first} {last}", phone, f"{handle}@{rng.choice(DOMAINS)}"))
        return len(self.contacts) - 1

    def plan(self) -> None:
        """Which conversation each message belongs to: per tenant a pool of conversations going on
        at once; a finished one is replaced by a new one, from a returning customer a third of the
        time (one not talking to the tenant right now: one open conversation per contact)."""
        rng = self.rng
        weights = [t.weight for t in self.tenants]
        pools: list[list[int]] = [[] for _ in self.tenants]
        talking: list[set[int]] = [set() for _ in self.tenants]
        known: list[list[int]] = [[] for _ in self.tenants]
        counts: list[int] = []
        picks = rng.choices(range(len(self.tenants)), weights=weights, k=self.total)
        for i, t in enumerate(picks):
            pool = pools[t]
            if len(pool) < self.tenants[t].active:
                contact = -1
                if known[t] and rng.random() < 0.33:
                    candidate = rng.choice(known[t])
                    contact = -1 if candidate in talking[t] else candidate
                if contact < 0:
                    contact = self._contact(t)
                    known[t].append(contact)
                talking[t].add(contact)
                conv = Conversation(t, contact, rng.choice(self.tenants[t].channel_ids), rng.randint(2, 48))
                conv.first = i
                self.conversations.append(conv)
                counts.append(0)
                pool.append(len(self.conversations) - 1)
            k = rng.randrange(len(pool))
            c = pool[k]
            self.conv_of.append(c)
            counts[c] += 1
            conv = self.conversations[c]
            conv.last = i
            if counts[c] >= conv.length:
                pool[k] = pool[-1]
                pool.pop()
                talking[t].discard(conv.contact)
        for pool in pools:
            for c in pool:
                self.conversations[c].open = True

    # --- rows, with ids from the given bases -----------------------------------------------------

    def contact_rows(self, base: int) -> Iterator[dict[str, Any]]:
        for k, ct in enumerate(self.contacts):
            yield {
                "id": base + k,
                "tenant_id": self.tenants[ct.tenant].tenant_id,
                "name": ct.name,
                "phone": f"+{ct.phone}",
                "email": ct.email,
                "created_at": self.start,
            }

    def identity_rows(self, base: int, contact_base: int) -> Iterator[dict[str, Any]]:
        for k, ct in enumerate(self.contacts):
            yield {
                "id": base + k,
                "tenant_id": self.tenants[ct.tenant].tenant_id,
                "contact_id": contact_base + k,
                "kind": "whatsapp",
                "external_id": ct.phone,
            }

    def conversation_rows(self, base: int, contact_base: int) -> Iterator[dict[str, Any]]:
        rng = random.Random(1)
        for k, cv in enumerate(self.conversations):
            t = self.tenants[cv.tenant]
            queue = rng.choice(t.queue_ids) if t.queue_ids and rng.random() < 0.7 else None
            agent = rng.choice(t.agent_ids) if t.agent_ids and rng.random() < 0.9 else None
            if cv.open:
                status = rng.choice(("assigned", "assigned", "queued", "bot"))
                agent = agent if status == "assigned" else None
                queue = None if status == "bot" else queue
            else:
                status = "resolved"
            first, last = self.at(cv.first), self.at(cv.last)
            yield {
                "id": base + k,
                "tenant_id": t.tenant_id,
                "channel_id": cv.channel_id,
                "contact_id": contact_base + cv.contact,
                "queue_id": queue,
                "status": status,
                "assignee_id": agent,
                "created_at": first,
                "last_message_at": last,
                "last_inbound_at": last,
                "queued_at": first,
                "assigned_at": first if agent else None,
                "resolved_at": None if cv.open else last,
            }

    def _text(self, inbound: bool, ct: Contact, order: int) -> str:
        rng = self.rng
        text = rng.choice(CUSTOMER if inbound else AGENT).format_map(_Fields(self, ct, order))
        if rng.randrange(RARE_EVERY) == 0:
            text += f" ({RARE_WORD})"
        return text

    def filler(self) -> str:
        k = self.rng.randint(3, 12)
        return " ".join(self.rng.choices(self.vocab, cum_weights=self._cum, k=k)).capitalize()

    def message_rows(self, base: int, conv_base: int) -> Iterator[dict[str, Any]]:
        """In id order, `created_at` rising with the id, as ingest writes them."""
        seen = [0] * len(self.conversations)
        orders = [0] * len(self.conversations)
        for i, c in enumerate(self.conv_of):
            cv = self.conversations[c]
            t = self.tenants[cv.tenant]
            n = seen[c]
            seen[c] += 1
            if n == 0:
                orders[c] = self.rng.randint(100_000, 999_999)
            inbound = n == 0 or self.rng.random() < 0.55
            ct = self.contacts[cv.contact]
            agent = None if inbound or not t.agent_ids else t.agent_ids[c % len(t.agent_ids)]
            yield {
                "id": base + i,
                "tenant_id": t.tenant_id,
                "conversation_id": conv_base + c,
                "channel_id": cv.channel_id,
                "direction": "in" if inbound else "out",
                "sender_type": "contact" if inbound else "agent",
                "sender_id": agent,
                "kind": "text",
                "text": self._text(inbound, ct, orders[c]),
                "status": "received" if inbound else "sent",
                "provider_message_id": f"wamid.bench{base + i}",
                "created_at": self.at(i),
            }

    # --- what the bench searches for -------------------------------------------------------------

    def probes(self, tenant: int = 0) -> dict[str, str]:
        """One query of each kind, taken from the searched tenant's own data where it must hit."""
        mine = [ct for ct in self.contacts if ct.tenant == tenant]
        ct = mine[len(mine) // 2] if mine else Contact(tenant, "", "5511987654321", "ninguem@example.com")
        return {
            "common word": "pedido",
            "rare word": RARE_WORD,
            "accented word": "informação",
            "phone fragment": ct.phone[4:9],  # the first digits after area code: "9" and four more
            "email": ct.email,
            "no hit": "wanderleia",
            "2 letters": "ok",
            "3 letters": "pix",
        }


class _Fields(dict[str, Any]):
    """A template's slots, each made only when the template has it (most have one or two)."""

    def __init__(self, corpus: Corpus, ct: Contact, order: int) -> None:
        super().__init__()
        self.corpus, self.ct, self.order = corpus, ct, order

    def __missing__(self, key: str) -> Any:
        return _SLOTS[key](self.corpus.rng, self)


_SLOTS: dict[str, Any] = {
    "g": lambda rng, f: rng.choice(GREET),
    "o": lambda rng, f: f.order,
    "c": lambda rng, f: rng.choice(CITIES),
    "p": lambda rng, f: rng.choice(PRODUCTS),
    "e": lambda rng, f: f.ct.email,
    "n": lambda rng, f: f.ct.name.split()[0],
    "d": lambda rng, f: rng.randint(2, 12),
    "t": lambda rng, f: rng.randint(10**8, 10**9 - 1),
    "w": lambda rng, f: f.corpus.filler(),
    "w2": lambda rng, f: rng.choice(f.corpus.vocab),
    "ph": lambda rng, f: f"({f.ct.phone[2:4]}) {f.ct.phone[4:9]}-{f.ct.phone[9:]}",
}


def _zipf_cum(n: int) -> list[float]:
    """Cumulative weights of a Zipf law (s = 1) over n words: a few frequent, a long tail."""
    out, total = [], 0.0
    for k in range(1, n + 1):
        total += 1.0 / k
        out.append(total)
    return out
