from services.deadline.main import DEFINITION, create_app
from services.deadline.settings import Settings
from shared.service_main import service_cli

service_cli(DEFINITION, Settings, create_app)()
