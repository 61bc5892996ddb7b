"""The seven ready-made automations, with their Portuguese templates (installed disabled: an admin
reads them, adapts them and switches them on). Pure data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    trigger: str
    body: str
    offset_seconds: int | None = None


PRESETS: tuple[Preset, ...] = (
    Preset(
        "Boas-vindas",
        "contact.created",
        "Olá! Que bom ter você por aqui. Aqui é da {{tenant.name}}: recebemos sua mensagem e em instantes "
        "alguém da nossa equipe vai te responder.",
    ),
    Preset(
        "Confirmação de agendamento",
        "appointment.created",
        "Olá, {{contact.first_name}}! Seu horário de {{appointment.title}} está confirmado para "
        "{{appointment.weekday}}, {{appointment.date}}, às {{appointment.time}}. Qualquer dúvida, é só "
        "responder esta mensagem.",
    ),
    Preset(
        "Lembrete 24 h antes",
        "appointment.reminder",
        "Oi, {{contact.first_name}}! Passando para lembrar do seu horário amanhã, {{appointment.date}}, às "
        "{{appointment.time}} ({{appointment.title}}). Se precisar remarcar, responda por aqui.",
        86_400,
    ),
    Preset(
        "Orientações pós-procedimento",
        "appointment.completed",
        "{{contact.first_name}}, obrigado pela visita! Enviamos aqui as orientações e os documentos do seu "
        "procedimento ({{appointment.title}}). Se sentir qualquer desconforto, fale com a gente por aqui.",
        3_600,
    ),
    Preset(
        "Pesquisa de satisfação",
        "conversation.resolved",
        "Como foi o seu atendimento na {{tenant.name}}? Responda com uma nota de 1 a 5 (5 = ótimo). "
        "Sua opinião nos ajuda a melhorar.",
    ),
    Preset(
        "Feliz aniversário",
        "contact.birthday",
        "Feliz aniversário, {{contact.first_name}}! 🎉 Toda a equipe da {{tenant.name}} deseja um dia "
        "incrível para você.",
    ),
    Preset(
        "Retomar contato sem resposta",
        "lead.no_reply",
        "Oi, {{contact.first_name}}! Conseguiu ver nossa última mensagem? Se ainda tiver interesse, é só "
        "responder por aqui que seguimos de onde paramos.",
        86_400,
    ),
)
