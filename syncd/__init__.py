"""syncd: keeps a HubSpot CRM and a Mailchimp audience in step for lead nurturing."""

__version__ = "0.1.0"
