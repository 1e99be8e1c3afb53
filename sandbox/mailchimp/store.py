"""PLACEHOLDER Mailchimp store (owned by the Mailchimp-side work)."""
class MailchimpStore:
    def __init__(self, world):
        self.world = world
    def state(self):
        return {"members": [], "campaigns": []}
    def inject_event(self, email, action, url=None, campaign_id=None, ts_ms=None, bounce_type="hard"):
        raise KeyError(email)
