from services.evidence.main import DEFINITION, create_app
from services.evidence.settings import Settings
from shared.service_main import service_cli

service_cli(DEFINITION, Settings, create_app)()
